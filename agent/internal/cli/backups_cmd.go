package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/inventory"
	"github.com/branchwatch/branchwatch/agent/internal/remote"
)

func init() {
	Register(&Command{
		Name:    "backups",
		Usage:   "agent backups [--json]",
		Summary: "list this branch's backups (bucket and local disk), newest first; needs only a read-only key",
		Flags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print JSON instead of a table")
		},
		Run: runBackups,
	})
}

// backupsJSON is `agent backups --json`.
type backupsJSON struct {
	BranchID string             `json:"branch_id"`
	Timezone string             `json:"timezone"`
	Bucket   bool               `json:"bucket"` // false: local-only mode
	Backups  []inventory.Backup `json:"backups"`
}

func runBackups(env *Env, fs *flag.FlagSet) error {
	st, err := remote.Open(env.Opts)
	if err != nil {
		return err
	}
	l := inventory.Lister{Branch: env.Opts.BranchID, Dir: env.Opts.BackupDir, Location: env.Opts.Location, Store: st,
		Drills: drillsOf(env, st)}
	list, err := l.List(env.Ctx)
	if err != nil {
		return err
	}
	if backupFlagBool(fs, "json") {
		out := backupsJSON{BranchID: env.Opts.BranchID, Timezone: env.Opts.Location.String(), Bucket: st != nil, Backups: list}
		if out.Backups == nil {
			out.Backups = []inventory.Backup{}
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printBackups(env.Stdout, env.Opts.BranchID, env.Opts.Location, st != nil, list)
	return nil
}

func printBackups(w io.Writer, branch string, loc *time.Location, bucket bool, list []inventory.Backup) {
	where := "bucket and local disk"
	if !bucket {
		where = "local disk only (no S3 settings)"
	}
	fmt.Fprintf(w, "%s: %d backups (%s), newest first, times in %s\n", branch, len(list), where, loc)
	if len(list) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TAKEN\tSIZE\tENCRYPTED\tLOCAL\tLAST DRILL\tKEY\tSHA-256")
	for _, b := range list {
		key := b.Key
		switch {
		case key == "":
			key = b.LocalPath + " (not in the bucket)"
		case !b.Confirmed:
			key += " (unconfirmed upload: no size/checksum metadata)"
		}
		drill := "-"
		if b.LastDrill != nil {
			drill = b.LastDrill.Date + " failed"
			if b.LastDrill.OK {
				drill = b.LastDrill.Date + " ok"
			}
		}
		sum := b.SHA256
		if sum == "" {
			sum = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Taken.Format("2006-01-02 15:04:05 -07:00"), backup.HumanBytes(b.Size),
			yesNo(b.Encrypted), yesNo(b.Local), drill, key, sum)
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
