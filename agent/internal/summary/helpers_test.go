package summary_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var kolkata = mustLoad("Asia/Kolkata")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// newDB creates a database whose sessions run in serverTZ ("" leaves the
// cluster's default), with the reference schema, and returns a pool on it.
func newDB(t testing.TB, serverTZ string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pg := testenv.PG(t)
	name := pg.CreateDatabase(t)
	if serverTZ != "" {
		if err := pg.Exec(ctx, "postgres", "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET timezone TO '"+serverTZ+"'"); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := pgxpool.New(ctx, pg.URL(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if serverTZ != "" {
		var got string
		if err := pool.QueryRow(ctx, "SHOW timezone").Scan(&got); err != nil || got != serverTZ {
			t.Fatalf("session time zone = %q (%v), want %q", got, err, serverTZ)
		}
	}
	if err := demodata.CreateSchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func exec(t testing.TB, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
}

// fixedClock is a settable clock.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func newSummarizer(t testing.TB, pool *pgxpool.Pool, clock *fixedClock, mod func(*summary.Config)) *summary.Summarizer {
	t.Helper()
	cfg := summary.Config{BranchID: "branch-andheri", BranchName: "Andheri — सैलून", Location: kolkata, Now: clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	s, err := summary.New(pool, cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func date(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func ist(s string) time.Time {
	t, err := time.ParseInLocation(time.DateTime, s, kolkata)
	if err != nil {
		panic(err)
	}
	return t
}
