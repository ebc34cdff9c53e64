package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/branchwatch/branchwatch/shared/layout"
)

// ErrOtherBranch is wrapped when a backup of another branch is asked for
// without naming that branch in Request.FromBranch.
var ErrOtherBranch = errors.New("backup of another branch")

// Replacement is what a restore into a non-empty target replaces.
type Replacement struct {
	Database string       // the target database's name
	Tables   []TableCount // its tables now, with their row counts
	Backup   string       // the requested key or dump name; "" for the newest good backup
}

// Rows is the total of the tables' rows (of those it could count).
func (r Replacement) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		if t.Rows > 0 {
			n += t.Rows
		}
	}
	return n
}

// RowsUnknown marks a TableCount whose rows the target's role may not read.
const RowsUnknown = -1

// checkBranch refuses a backup of branch dumped when the restore is for
// branch own (BRANCH_ID, or --from-branch).
func checkBranch(dumped, own string, fromBranch bool) error {
	if dumped == own {
		return nil
	}
	if fromBranch {
		return fmt.Errorf("%w: the backup is of branch %s, but --from-branch names %s", ErrOtherBranch, dumped, own)
	}
	return fmt.Errorf("%w: the backup is of branch %s, and this agent is BRANCH_ID=%s: pass --from-branch %s to restore it anyway (e.g. moving that branch to new hardware)",
		ErrOtherBranch, dumped, own, dumped)
}

// dumpBranch is the branch a --key names: its prefix, or for a bare file
// name the branch in the name. "" when it names none.
func dumpBranch(key string) string {
	if branch, _, ok := strings.Cut(key, "/"); ok {
		return branch
	}
	if d, err := layout.ParseDumpName(plainName(key), nil); err == nil {
		return d.Branch
	}
	return ""
}

// targetTables lists the target's user tables with their row counts.
func targetTables(ctx context.Context, url string) ([]TableCount, error) {
	tables, err := listTables(ctx, url)
	if err != nil || len(tables) == 0 {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	out := make([]TableCount, 0, len(tables))
	for _, t := range tables {
		n, err := rowCount(ctx, conn, t)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42501" {
			n, err = RowsUnknown, nil // no SELECT right: listed, not counted
		}
		if err != nil {
			return nil, err
		}
		out = append(out, TableCount{Table: t, Rows: n})
	}
	return out, nil
}

// rowCount counts the rows of table ("schema.name").
func rowCount(ctx context.Context, conn *pgx.Conn, table string) (int64, error) {
	schema, name, _ := strings.Cut(table, ".")
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, name}.Sanitize()).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of %s: %w", table, err)
	}
	return n, nil
}
