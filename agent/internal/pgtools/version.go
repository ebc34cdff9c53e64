// Package pgtools finds and runs the PostgreSQL client programs (pg_dump,
// pg_restore) the agent needs: one whose major version suits the server, run
// with the password in a private passfile, never on the command line.
package pgtools

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Version is a PostgreSQL version as server_version_num spells it:
// 150010 is 15.10, 90624 is 9.6.24.
type Version int

// Major is the major version in the same scale (150000 for 15.x, 90600 for
// 9.6.x), so that majors compare as integers across the 10.0 renumbering.
func (v Version) Major() Version {
	if v >= 100000 {
		return v / 10000 * 10000
	}
	return v / 100 * 100
}

// MajorString is "15" or "9.6".
func (v Version) MajorString() string {
	if v >= 100000 {
		return strconv.Itoa(int(v) / 10000)
	}
	return fmt.Sprintf("%d.%d", int(v)/10000, int(v)/100%100)
}

// String is "15.10" or "9.6.24".
func (v Version) String() string {
	if v >= 100000 {
		return fmt.Sprintf("%d.%d", int(v)/10000, int(v)%10000)
	}
	return fmt.Sprintf("%d.%d.%d", int(v)/10000, int(v)/100%100, int(v)%100)
}

// toolVersionRE matches "pg_dump (PostgreSQL) 15.10 (Debian ...)",
// "pg_dump (PostgreSQL) 17beta1" and "pg_dump (PostgreSQL) 9.6.24".
var toolVersionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?(?:\.(\d+))?`)

// ParseToolVersion reads the version out of a client program's --version line.
func ParseToolVersion(out string) (Version, error) {
	m := toolVersionRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no PostgreSQL version in %q", out)
	}
	n := make([]int, 3)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1]) // "" (absent) reads as 0
	}
	if n[0] >= 10 {
		return Version(n[0]*10000 + n[1]), nil
	}
	return Version(n[0]*10000 + n[1]*100 + n[2]), nil
}

// ServerVersion asks the server behind url for server_version_num.
func ServerVersion(ctx context.Context, url string) (Version, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx may quote the URL, password included: say only what is wrong.
		return 0, fmt.Errorf("server version: the connection URL is malformed")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("server version: connect to %s: %w", redactedTarget(cfg), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var num int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		return 0, fmt.Errorf("server version: query %s: %w", redactedTarget(cfg), err)
	}
	return Version(num), nil
}

func redactedTarget(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("database %q on %s:%d as %q", cfg.Database, cfg.Host, cfg.Port, cfg.User)
}

// ParseVersion reads "15.10" or "9.6.24" (as Version.String writes them).
func ParseVersion(s string) (Version, error) {
	return ParseToolVersion("(PostgreSQL) " + s)
}
