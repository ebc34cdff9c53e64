package testenv

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestPostgresRoundTrip(t *testing.T) {
	pg, url := NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int primary key, name text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 7, "branch-andheri ₹"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRow(ctx, "SELECT name FROM t WHERE id = $1", 7).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "branch-andheri ₹" {
		t.Fatalf("round trip gave %q", name)
	}
	// A password role must give its password over TCP.
	pwURL := pg.CreatePasswordUser(t, "postgres", "pwtest", "hunter2")
	c2, err := pgx.Connect(ctx, pwURL)
	if err != nil {
		t.Fatalf("password login: %v", err)
	}
	c2.Close(ctx)
	if _, err := pgx.Connect(ctx, pg.URL("postgres")[:0]+"postgres://pwtest:wrong@127.0.0.1:"+itoa(pg.Port)+"/postgres?sslmode=disable"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
