package restore_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/restore"
)

// TestRestoreOntoAServerWithoutTheRoles: a dump that grants to a role the
// target server lacks (a restore onto a new machine) fails as a whole,
// saying what to do, and restores with --no-privileges.
func TestRestoreOntoAServerWithoutTheRoles(t *testing.T) {
	ctx := context.Background()
	pg, _, source := backuptest.NewBranchDB(t, 50)
	if err := pg.Exec(ctx, "postgres", "CREATE ROLE salon_reader_gone NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	db := source[strings.LastIndex(source, "/")+1 : strings.Index(source, "?")]
	if err := pg.Exec(ctx, db, "GRANT SELECT ON bills TO salon_reader_gone"); err != nil {
		t.Fatal(err)
	}
	opts := backuptest.Options(t, backuptest.Env(source, t.TempDir(), nil))
	r, err := backup.New(opts, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// The role disappears, as on a new server.
	if err := pg.Exec(ctx, db, "DROP OWNED BY salon_reader_gone"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "postgres", "DROP ROLE salon_reader_gone"); err != nil {
		t.Fatal(err)
	}

	target := pg.URL(pg.CreateDatabase(t))
	_, err = restore.Run(ctx, opts, nil, restore.Request{TargetURL: target}, nil)
	if err == nil || !strings.Contains(err.Error(), "--no-privileges") {
		t.Fatalf("restore granting to a missing role: %v, want a failure that names --no-privileges", err)
	}
	if n := tableCount(t, target); n != 0 {
		t.Fatalf("a failed restore left %d tables", n)
	}
	if _, err := restore.Run(ctx, opts, nil, restore.Request{TargetURL: target, NoPrivileges: true}, nil); err != nil {
		t.Fatalf("restore with NoPrivileges: %v", err)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, target), backuptest.Snapshot(t, source))
}

// TestRestoreOverTablesOfAnotherOwner: a restore over tables the target
// URL's role does not own fails whole, saying so.
func TestRestoreOverTablesOfAnotherOwner(t *testing.T) {
	ctx := context.Background()
	f := backedUp(t, false, "")
	db := f.pg.CreateDatabase(t)
	backuptest.Fill(t, f.pg.URL(db), 5) // tables owned by the superuser
	before := backuptest.Snapshot(t, f.pg.URL(db))
	if err := f.pg.Exec(ctx, "postgres", "CREATE ROLE restore_not_owner LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.pg.Exec(ctx, "postgres", "DROP ROLE IF EXISTS restore_not_owner")
	})
	target := strings.Replace(f.pg.URL(db), "://postgres@", "://restore_not_owner@", 1)
	_, err := restore.Run(ctx, f.opts, nil, restore.Request{TargetURL: target, Yes: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "restore_not_owner does not own the tables") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("restore over another role's tables: %v, want a failure naming the ownership", err)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, f.pg.URL(db)), before)
}
