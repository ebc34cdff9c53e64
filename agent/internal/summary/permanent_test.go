package summary

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestQueryErrorPermanent: a query that breaks the contract or that the
// server refuses as written is not worth retrying; a lost connection is.
func TestQueryErrorPermanent(t *testing.T) {
	cases := []struct {
		name string
		err  *QueryError
		want bool
	}{
		{"missing column", &QueryError{Source: "q.sql", Column: "refund_count", Problem: "is missing"}, true},
		{"undefined table", &QueryError{Source: DefaultSource, Problem: "failed", Err: &pgconn.PgError{Code: "42P01"}}, true},
		{"syntax", &QueryError{Source: "q.sql", Problem: "failed", Err: &pgconn.PgError{Code: "42601"}}, true},
		{"division by zero", &QueryError{Source: "q.sql", Problem: "failed", Err: &pgconn.PgError{Code: "22012"}}, true},
		{"server shutting down", &QueryError{Source: DefaultSource, Problem: "failed", Err: &pgconn.PgError{Code: "57P01"}}, false},
		{"connection lost", &QueryError{Source: DefaultSource, Problem: "failed", Err: errors.New("unexpected EOF")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Permanent(); got != tc.want {
				t.Errorf("Permanent() = %v, want %v", got, tc.want)
			}
		})
	}
}
