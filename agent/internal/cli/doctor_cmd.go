package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/branchwatch/branchwatch/agent/internal/doctor"
)

func init() {
	Register(&Command{
		Name:    "doctor",
		Usage:   "agent doctor",
		Summary: "check every setting against the world: database, pg_dump, metrics query, BACKUP_DIR, bucket, clock, zone, schedules",
		Help: `Prints one line per check: PASS, FAIL or SKIP, the setting it concerns, and
what was found. The checks: DATABASE_URL connects and authenticates; a
pg_dump of at least the server's major version is installed (PG_DUMP_PATH);
the metrics query runs (the default one or METRICS_QUERY_FILE); BACKUP_DIR
is writable with free space for two dumps the size of the last one; the
bucket is reachable and writable under <branch>/ (by overwriting the one
object <branch>/agent/status.json, so a key without delete capability
passes); this host's clock is within 5 minutes of the S3 server's (beyond
that S3 refuses request signatures); the time zone and the next run of each
schedule. In local-only mode the bucket and clock checks are skipped.

Exit status 0 only when no check fails; 1 otherwise; 2 for a setting that
does not even parse.`,
		NeedsDB: true,
		Run:     runDoctor,
	})
}

func runDoctor(env *Env, _ *flag.FlagSet) error {
	k, err := openMetrics(env, env.Now)
	if err != nil {
		return err
	}
	defer k.close()
	results := doctor.Run(env.Ctx, doctorConfig(env, k))
	for _, r := range results {
		fmt.Fprintln(env.Stdout, r)
	}
	failed := doctor.Failed(results)
	if len(failed) == 0 {
		fmt.Fprintf(env.Stdout, "all checks passed (%d)\n", len(results))
		return nil
	}
	var names []string
	for _, r := range failed {
		names = append(names, r.Setting)
	}
	return fmt.Errorf("%d of %d checks failed: %s", len(failed), len(results), strings.Join(names, ", "))
}

// doctorConfig is the checks' setup, shared by `agent doctor` and `agent run`.
func doctorConfig(env *Env, k *metricsKit) doctor.Config {
	return doctor.Config{
		Options: env.Opts, Store: k.st, Query: k.sum, AgentVersion: Version,
		Instance: k.instance, Now: env.Now, Redact: env.Redact,
	}
}
