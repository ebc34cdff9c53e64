package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"filippo.io/age"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/cloudclean"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/agent/internal/remote"
	"github.com/branchwatch/branchwatch/agent/internal/restore"
	"github.com/branchwatch/branchwatch/agent/internal/restoredrill"
)

// EnvRestoreTargetURL is where `agent restore` also takes its target from,
// so that a password in it stays off the command line.
const EnvRestoreTargetURL = "RESTORE_TARGET_URL"

func init() {
	backup.AgentVersion = Version
	Register(&Command{
		Name:    "backup",
		Usage:   "agent backup [--retry-for D]",
		Summary: "one backup now: dump, check, upload, local retention",
		NeedsDB: true,
		Flags:   retryForFlag,
		Run:     runBackup,
	})
	Register(&Command{
		Name:    "cleanup",
		Usage:   "agent cleanup [--retry-for D]",
		Summary: "the cloud retention sweep, once (with BACKUP_CLOUD_RETENTION=bucket: deletes nothing, reports what the bucket's lifecycle rule removes)",
		Flags:   retryForFlag,
		Run:     runCleanup,
	})
	Register(&Command{
		Name:    "restore",
		Usage:   "agent restore [--key K | --latest] [--from-branch ID] [--target-url URL | --target-database NAME] [--yes] [--identity FILE] [--no-privileges] [--work-dir DIR]",
		Summary: "fetch a backup (latest by default, falling back past newer ones that fail their checksum), check it, restore it into a database",
		Flags: func(fs *flag.FlagSet) {
			fs.String("key", "", "bucket key or dump file name to restore")
			fs.Bool("latest", false, "restore the newest good backup (the default)")
			fs.String("target-url", "", "postgres:// URL of the database to restore into (or "+EnvRestoreTargetURL+", which keeps a password off the command line)")
			fs.String("target-database", "", "restore into this database on the server of DATABASE_URL, as its user (no password to type: the agent's settings have it)")
			fs.Bool("yes", false, "replace the tables of a target that already has some: the confirmation when standard input is not a terminal (on a terminal the agent lists the tables with their row counts and asks in any case)")
			fs.String("from-branch", "", "restore a backup of this other branch (its newest good one, or --key under its prefix); without it a --key of another branch is refused")
			fs.String("identity", "", "age identity file that decrypts encrypted backups")
			fs.String("work-dir", "", "directory for the download (default: BACKUP_DIR if it exists, else the temporary directory)")
			fs.Bool("no-privileges", false, "skip the dump's GRANTs and REVOKEs (a server without the branch's roles)")
		},
		Run: runRestore,
	})
	Register(&Command{
		Name:    "verify",
		Usage:   "agent verify [--identity FILE] [--no-record]",
		Summary: "restore drill, once: restore the newest cloud backup into a scratch database, compare rows and the day's figures with its manifest, record the result",
		NeedsDB: true,
		Flags: func(fs *flag.FlagSet) {
			fs.String("identity", "", "age identity file that decrypts encrypted backups (default: "+options.EnvVerifyIdentityFile+")")
			fs.String("work-dir", "", "directory for the download (default: BACKUP_DIR if it exists, else the temporary directory)")
			fs.Bool("no-record", false, "do not write the drill record to the bucket ({branch}/drills/YYYY-MM-DD.json)")
		},
		Run: runVerify,
	})
}

func runBackup(env *Env, fs *flag.FlagSet) error {
	st, err := remote.Open(env.Opts)
	if err != nil {
		return err
	}
	r, err := backup.New(env.Opts, st, env.Logger)
	if err != nil {
		return err
	}
	r.Now = env.Now
	r.Instance = instanceID(env)
	ctx, _, finish, err := oneShotJob(env, fs)
	if err != nil {
		return err
	}
	res, err := r.Run(ctx) // retries its bucket check and upload, never its dump
	if err = finish(err); err != nil {
		return err
	}
	where := "kept locally (no S3 settings)"
	if res.Uploaded {
		where = "uploaded to " + res.Key
	}
	fmt.Fprintf(env.Stdout, "backup %s: %d bytes, sha256 %s, %s\n", res.Path, res.Size, res.SHA256, where)
	return nil
}

func runCleanup(env *Env, fs *flag.FlagSet) error {
	st, err := remote.Open(env.Opts)
	if err != nil {
		return err
	}
	if st == nil {
		fmt.Fprintln(env.Stdout, "cleanup: no S3 settings, backups stay local: nothing to clean in the cloud")
		return nil
	}
	ctx, rt, finish, err := oneShotJob(env, fs)
	if err != nil {
		return err
	}
	var res cloudclean.Result
	err = finish(rt.Do(ctx, "cleanup", func(ctx context.Context) (err error) {
		res, err = cloudclean.Run(ctx, env.Opts, st, env.Logger, env.Now())
		return err
	}))
	printCleanup(env.Stdout, env.Opts, res)
	return err
}

// printCleanup says what the sweep did or, with BACKUP_CLOUD_RETENTION=bucket,
// what the bucket's lifecycle rule removes.
func printCleanup(w io.Writer, o options.Options, res cloudclean.Result) {
	if o.CloudRetention == options.CloudRetentionBucket {
		fmt.Fprintf(w, "cleanup: %s=bucket: the agent deleted nothing; the bucket's lifecycle rule removes %d backups older than %d days, %d kept\n",
			options.EnvCloudRetention, len(res.Expiring), o.CloudRetentionDays, res.Kept-len(res.Expiring))
		for _, k := range res.Expiring {
			fmt.Fprintf(w, "  expiring: %s\n", k)
		}
		for _, k := range res.ExpiringNewest {
			fmt.Fprintf(w, "  WARNING: one of the newest good backups expires too (no newer backup for longer than the retention): %s\n", k)
		}
	} else {
		fmt.Fprintf(w, "cleanup: %d deleted, %d kept\n", res.Deleted, res.Kept)
	}
	if len(res.Unknown) > 0 {
		fmt.Fprintf(w, "cleanup: %d backups in the bucket are not in this agent's upload record: not counted as good, never deleted\n", len(res.Unknown))
	}
}

func runRestore(env *Env, fs *flag.FlagSet) error {
	key := backupFlagString(fs, "key")
	if key != "" && backupFlagBool(fs, "latest") {
		return fmt.Errorf("%w: --key and --latest exclude each other", ErrUsage)
	}
	target, err := restoreTarget(env, backupFlagString(fs, "target-url"), backupFlagString(fs, "target-database"))
	if err != nil {
		return err
	}
	ids, err := readAgeIdentities(backupFlagString(fs, "identity"))
	if err != nil {
		return err
	}
	st, err := remote.Open(env.Opts)
	if err != nil {
		return err
	}
	res, err := restore.Run(env.Ctx, env.Opts, st, restore.Request{
		Key: key, TargetURL: target, Yes: backupFlagBool(fs, "yes"), Identities: ids,
		WorkDir: backupFlagString(fs, "work-dir"), Progress: backupTerminal(env.Stderr),
		NoPrivileges: backupFlagBool(fs, "no-privileges"), FromBranch: backupFlagString(fs, "from-branch"),
		Confirm: confirmReplacement(env.Stderr, backupFlagBool(fs, "yes")),
	}, env.Logger)
	if err != nil {
		return err
	}
	for _, sk := range res.Skipped {
		fmt.Fprintf(env.Stdout, "skipped a newer backup that is not good: %s\n", sk)
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(env.Stdout, "fell back to %s, the newest backup that matches its checksum\n", res.Name)
	}
	fmt.Fprintf(env.Stdout, "restored %s (%s, sha256 %s): %d tables\n", res.Name, res.Origin, res.SHA256, len(res.Tables))
	return nil
}

// restoreTarget is the URL restore restores into: --target-url, else
// --target-database on DATABASE_URL's server, else RESTORE_TARGET_URL.
func restoreTarget(env *Env, targetURL, database string) (string, error) {
	switch {
	case targetURL != "" && database != "":
		return "", fmt.Errorf("%w: --target-url and --target-database exclude each other", ErrUsage)
	case targetURL != "":
		return targetURL, nil
	case database != "":
		if strings.ContainsAny(database, "/?#%") || strings.TrimSpace(database) != database {
			return "", fmt.Errorf("%w: --target-database %q is not a plain database name", ErrUsage, database)
		}
		if env.Opts.DatabaseURL == "" {
			return "", fmt.Errorf("%w: --target-database needs %s (the server and user to restore with)", ErrUsage, options.EnvDatabaseURL)
		}
		c, err := pgtools.ParseConn(env.Opts.DatabaseURL)
		if err != nil {
			return "", fmt.Errorf("%s: %w", options.EnvDatabaseURL, err)
		}
		return c.WithDatabase(database).URL(), nil
	}
	if env.Lookup != nil {
		if t, _ := env.Lookup(EnvRestoreTargetURL); t != "" {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w: --target-url, --target-database or %s is required", ErrUsage, EnvRestoreTargetURL)
}

func runVerify(env *Env, fs *flag.FlagSet) error {
	ids := env.Opts.VerifyIdentities
	if file := backupFlagString(fs, "identity"); file != "" {
		var err error
		if ids, err = readAgeIdentities(file); err != nil {
			return err
		}
	}
	st, err := remote.Open(env.Opts)
	if err != nil {
		return err
	}
	res, err := restoredrill.Run(env.Ctx, env.Opts, st, restoredrill.Request{
		VerifyRequest: restore.VerifyRequest{
			Identities: ids, WorkDir: backupFlagString(fs, "work-dir"), Progress: backupTerminal(env.Stderr),
			ScratchURL: env.Opts.VerifyDatabaseURL,
		},
		NoRecord: backupFlagBool(fs, "no-record"),
	}, env.Logger, env.Now())
	printDrill(env.Stdout, res)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "verify ok: %d tables restored\n", len(res.Verify.Tables))
	return nil
}

// printDrill shows what a drill compared, table by table.
func printDrill(w io.Writer, res restoredrill.Result) {
	v := res.Verify
	if v.Name == "" {
		return
	}
	fmt.Fprintf(w, "verify %s (%s) in scratch database %s:\n", v.Name, v.Origin, v.Database)
	for _, name := range slices.Sorted(maps.Keys(res.Record.Tables)) {
		t := res.Record.Tables[name]
		restored, expected := "MISSING", "not counted"
		if t.Restored != nil {
			restored = strconv.FormatInt(*t.Restored, 10) + " rows"
		}
		if t.Expected != nil {
			expected = strconv.FormatInt(*t.Expected, 10)
		} else if v.Manifest == nil {
			expected = "none, local-only mode"
		}
		mark := ""
		if !t.Matches() {
			mark = "  MISMATCH"
		}
		fmt.Fprintf(w, "  %-40s %14s (manifest: %s)%s\n", name, restored, expected, mark)
	}
	if mc := res.Record.MetricsCheck; mc != nil {
		fmt.Fprintf(w, "  figures of %s: match the manifest: %v, match the pushed document: %v\n", mc.Date, mc.MatchesManifest, mc.MatchesPushed)
		for _, d := range mc.Differences {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
	if res.RecordKey != "" {
		fmt.Fprintf(w, "  record: %s\n", res.RecordKey)
	}
}

func readAgeIdentities(file string) ([]age.Identity, error) {
	if file == "" {
		return nil, nil
	}
	ids, err := options.ReadIdentities(file)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return ids, nil
}

// backupTerminal returns w when it is a terminal (progress lines are for people).
func backupTerminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}

func backupFlagString(fs *flag.FlagSet, name string) string {
	if f := fs.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

func backupFlagBool(fs *flag.FlagSet, name string) bool {
	if f := fs.Lookup(name); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			b, _ := g.Get().(bool)
			return b
		}
	}
	return false
}
