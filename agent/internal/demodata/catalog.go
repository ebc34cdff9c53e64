package demodata

// item is one line of the salon's price list. Money is in paise.
type item struct {
	name  string
	price int64 // unit_price
	cost  int64 // unit_cost: consumables for a service, purchase price for a product
}

// services is what a customer comes for; weight is how often it is chosen.
var services = []struct {
	item
	weight int
}{
	{item{"Haircut (women)", 60000, 4000}, 18},
	{item{"Haircut (men)", 30000, 2000}, 22},
	{item{"Beard trim", 15000, 1000}, 10},
	{item{"Hair colour", 250000, 60000}, 6},
	{item{"Hair spa", 150000, 30000}, 6},
	{item{"Facial", 180000, 40000}, 7},
	{item{"Manicure", 80000, 12000}, 6},
	{item{"Pedicure", 100000, 15000}, 6},
	{item{"Threading", 5000, 300}, 10},
	{item{"Waxing (full arms)", 40000, 6000}, 5},
	{item{"Keratin treatment", 600000, 150000}, 1},
	{item{"Head massage", 40000, 3000}, 3},
}

// products are sold over the counter, usually with a service.
var products = []struct {
	item
	weight int
}{
	{item{"Shampoo 250 ml", 65000, 38000}, 5},
	{item{"Conditioner 200 ml", 70000, 41000}, 3},
	{item{"Hair serum", 90000, 52000}, 3},
	{item{"Face wash", 35000, 19000}, 3},
	{item{"Hair oil", 30000, 16000}, 4},
	{item{"Sunscreen SPF 50", 55000, 30000}, 2},
}

// Weights of services and products, index for index.
var (
	serviceWeights = func() (w []int) {
		for _, s := range services {
			w = append(w, s.weight)
		}
		return w
	}()
	productWeights = func() (w []int) {
		for _, p := range products {
			w = append(w, p.weight)
		}
		return w
	}()
)

// Payment methods, as the reference schema spells them.
const (
	methodCash   = "cash"
	methodUPI    = "upi"
	methodCard   = "card"
	methodWallet = "wallet"
)

// methodWeights: cash and UPI dominate at an Indian salon counter.
var methodWeights = []struct {
	method string
	weight int
}{
	{methodCash, 38}, {methodUPI, 37}, {methodCard, 20}, {methodWallet, 5},
}

// Weekday factors applied to the mean number of bills: weekends are busy,
// Mondays and Tuesdays quiet.
var weekdayFactor = [7]float64{
	1.45, // Sunday
	0.75, // Monday
	0.85, // Tuesday
	0.95, // Wednesday
	1.00, // Thursday
	1.15, // Friday
	1.60, // Saturday
}
