package deploycheck

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"

	"github.com/branchwatch/branchwatch/shared/testenv"
)

// runbookBlocks returns the fenced blocks of a markdown file whose info
// string is exactly "sh <tag>", in order.
func runbookBlocks(t *testing.T, file, tag string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh "+tag:
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s: a %s block is not closed", file, tag)
	}
	if len(blocks) == 0 {
		t.Fatalf("%s has no ```sh %s blocks", file, tag)
	}
	return blocks
}

// buildAgent builds bin/agent from the workspace into dir.
func buildAgent(t *testing.T, root, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "agent"), "./agent/cmd/agent")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the agent: %v\n%s", err, out)
	}
}

// systemdRunStandIn runs the command as systemd-run would, minus the user
// switch: a clean environment of the -p Environment= settings, then the
// -p EnvironmentFile= file over them (systemd's order), then --setenv.
const systemdRunStandIn = `#!/bin/bash
set -euo pipefail
envs=(); file=""
while [ $# -gt 0 ]; do
  case "$1" in
    -p) shift
        case "$1" in
          Environment=*) envs+=("${1#Environment=}") ;;
          EnvironmentFile=*) file="${1#EnvironmentFile=}" ;;
          User=*|Group=*) ;;
          *) echo "systemd-run stand-in: property $1 not simulated" >&2; exit 2 ;;
        esac ;;
    --setenv=*) v="${1#--setenv=}"; [[ $v == *=* ]] || v="$v=${!v}"; envs+=("$v") ;;
    --quiet|-q|--pty|-t|--pipe|-P|--wait|--collect|-G) ;;
    -*) echo "systemd-run stand-in: option $1 not simulated" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ -n "$file" ] && [ -r "$file" ] || { echo "systemd-run stand-in: no readable EnvironmentFile" >&2; exit 2; }
exec env -i PATH="$PATH" HOME="$HOME" "${envs[@]}" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$file" "$@"
`

// TestSystemdRunbookRuns executes deploy/docs/restore-systemd.md: every
// block marked runbook-systemd, in order, in one bash, as root would on the
// branch host. Only systemd-run, systemctl and sudo -u postgres are
// stand-ins (no systemd in a test); the agent is built from this tree, the
// database is a throwaway PostgreSQL and the bucket a loopback S3 server.
// Afterwards the live database's name holds the backup's rows again, the
// damaged rows sit in the renamed database, and the agent's next backup
// (the runbook's last step) was taken of the restored data.
func TestSystemdRunbookRuns(t *testing.T) {
	root := repoRoot(t)
	runbook := filepath.Join(root, "deploy/docs/restore-systemd.md")
	blocks := runbookBlocks(t, runbook, "runbook-systemd")
	switchBlocks := runbookBlocks(t, runbook, "runbook-systemd-switch")
	pg, err := testenv.StartPostgres()
	if err != nil {
		t.Fatalf("throwaway PostgreSQL: %v", err)
	}
	t.Cleanup(pg.Stop)
	srv := testenv.StartS3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	bin := t.TempDir()
	buildAgent(t, root, bin)
	calls := filepath.Join(t.TempDir(), "systemctl.calls")
	standIns := map[string]string{
		"systemd-run": systemdRunStandIn,
		"systemctl":   "#!/bin/sh\necho \"$*\" >> " + calls + "\n",
		"sudo": fmt.Sprintf("#!/bin/sh\n[ \"$1\" = -u ] && [ \"$2\" = postgres ] || { echo \"sudo stand-in: only -u postgres\" >&2; exit 2; }\n"+
			"shift 2\nPGHOST=%s PGPORT=%d PGUSER=%s exec \"$@\"\n", pg.Host, pg.Port, testenv.Superuser),
	}
	for name, body := range standIns {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// A branch zone whose date differs from the host's (UTC) now, so that a
	// runbook step taking the host's date names its database wrongly.
	zone := "Etc/GMT+12" // UTC-12: yesterday before 12:00 UTC
	if time.Now().UTC().Hour() >= 12 {
		zone = "Etc/GMT-14" // UTC+14: tomorrow from 10:00 UTC
	}
	if time.Now().In(mustZone(t, zone)).Format("20060102") == time.Now().UTC().Format("20060102") {
		t.Fatalf("zone %s has today's UTC date", zone)
	}
	db := pg.CreateDatabase(t)
	backupDir := t.TempDir()
	envFile := filepath.Join(t.TempDir(), "agent.env")
	lines := []string{"DATABASE_URL=" + pg.URL(db), "BRANCH_ID=branch-andheri", "BRANCH_TIMEZONE=" + zone,
		"BACKUP_DIR=" + backupDir, "LOG_LEVEL=warn"}
	for k, v := range srv.Env() {
		lines = append(lines, k+"="+v)
	}
	if err := os.WriteFile(envFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shell := func(script string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
		cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ENV_FILE=" + envFile, "TZ=UTC"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("runbook failed: %v\n--- script ---\n%s\n--- output ---\n%s", err, script, out)
		}
		return string(out)
	}
	// The branch as it was: demo data, one backup; then the damage.
	shell(`source <(sed -n '/^run_agent()/,/^}/p' ` + runbook + `)
run_agent demo-data --days 3 --seed 7 --end 2026-02-16
run_agent backup`)
	before := countRows(t, ctx, pg.URL(db))
	if before["bills"] == 0 {
		t.Fatalf("no demo bills: %v", before)
	}
	conn, err := pgx.Connect(ctx, pg.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM payments; DELETE FROM bill_items; DELETE FROM refunds; DELETE FROM bills WHERE id % 2 = 0"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	damaged := countRows(t, ctx, pg.URL(db))

	out := shell(strings.Join(blocks, ""))

	if got := countRows(t, ctx, pg.URL(db)); !sameCounts(got, before) {
		t.Errorf("after the runbook %s holds %v, want the backup's rows %v", db, got, before)
	}
	date := time.Now().In(mustZone(t, zone)).Format("20060102")
	damagedDB, err := queryString(ctx, pg.URL("postgres"), "SELECT datname FROM pg_database WHERE datname LIKE $1", db+"_damaged_"+date+"_%")
	if err != nil {
		t.Fatalf("no database %s_damaged_%s_HHMM (branch date) after the runbook: %v\n%s", db, date, err, out)
	}
	if got := countRows(t, ctx, pg.URL(damagedDB)); !sameCounts(got, damaged) {
		t.Errorf("%s holds %v, want the damaged rows %v", damagedDB, got, damaged)
	}
	// The drill of step 1 shows beside the backup in step 2.
	drillDate := time.Now().In(mustZone(t, zone)).Format("2006-01-02")
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [-+]\d\d:\d\d .* ` + drillDate + ` ok +branch-andheri/backups/`).MatchString(out) {
		t.Errorf("agent backups does not show the drill of %s beside the backup:\n%s", drillDate, out)
	}
	for _, want := range []string{"branch-andheri: 1 backups", "restored branch-andheri_", "bills", "last_bill"} {
		if !strings.Contains(out, want) {
			t.Errorf("runbook output lacks %q:\n%s", want, out)
		}
	}
	if c, _ := os.ReadFile(calls); string(c) != "stop branchwatch-agent\nstart branchwatch-agent\n" {
		t.Errorf("systemctl calls = %q, want stop then start of branchwatch-agent", c)
	}
	// The runbook's last backup is of the restored database: restore it
	// elsewhere and count.
	check := pg.CreateDatabase(t)
	res := shell(`source <(sed -n '/^run_agent()/,/^}/p' ` + runbook + `)
run_agent backups --json
run_agent restore --latest --target-database ` + check)
	if !strings.Contains(res, `"name": "branch-andheri_`) || strings.Count(res, `"in_bucket": true`) != 2 {
		t.Errorf("after the runbook the bucket should hold 2 backups:\n%s", res)
	}
	if got := countRows(t, ctx, pg.URL(check)); !sameCounts(got, before) {
		t.Errorf("the backup taken after the switch holds %v, want the restored rows %v", got, before)
	}

	// The alternative switch: DATABASE_URL now names the restored database.
	shell(blocks[0] + "NEW_DB=" + check + "\n" + strings.Join(switchBlocks, ""))
	env, _ := os.ReadFile(envFile)
	if want := "DATABASE_URL=" + pg.URL(check) + "\n"; !strings.Contains(string(env), want) {
		t.Errorf("after the switch block agent.env lacks %q:\n%s", want, env)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// queryString is the first column of the first row of sql.
func queryString(ctx context.Context, url, sql string, args ...any) (string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var s string
	err = conn.QueryRow(ctx, sql, args...).Scan(&s)
	return s, err
}

// countRows counts the reference schema's tables' rows.
func countRows(t *testing.T, ctx context.Context, url string) map[string]int64 {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	out := map[string]int64{}
	for _, table := range []string{"bills", "bill_items", "payments", "refunds", "expenses"} {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

func sameCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// composeUse is one `docker compose` command of a runbook and the service
// it names.
var composeUse = regexp.MustCompile(`docker compose (exec(?: -T)?|run --rm|stop|start|up -d|restart|logs) ([a-z][a-z0-9_-]*)|docker compose cp \S+ ([a-z][a-z0-9_-]*):(\S+)`)

// TestComposeRunbookNamesWhatExists: every `docker compose` command of
// deploy/docs/restore-compose.md names a service of the branch compose file
// (resolved by `docker-compose config` in a copy laid out as on a branch,
// with COMPOSE_FILE as the runbook sets it and deploy/branch/agent.env
// where the runbook reads it), the paths it uses inside the agent are that
// service's volume, and what it reads in the postgres container is set.
func TestComposeRunbookNamesWhatExists(t *testing.T) {
	root := repoRoot(t)
	runbook := filepath.Join(root, "deploy/docs/restore-compose.md")
	var blocks []string
	for _, tag := range []string{"runbook-compose", "runbook-compose-switch", "runbook-compose-live"} {
		blocks = append(blocks, runbookBlocks(t, runbook, tag)...)
	}
	// The shared page's compose commands (the machine is gone) too.
	blocks = append(blocks, runbookBlocks(t, filepath.Join(root, "deploy/docs/restore-runbook.md"), "runbook-compose-gone")...)
	text := strings.Join(blocks, "")
	m := regexp.MustCompile(`(?m)^export COMPOSE_FILE=(\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("the runbook does not export COMPOSE_FILE")
	}
	composeFile := m[1]

	// A branch's checkout: the compose file, its Dockerfile, agent.env and the password file.
	dir := t.TempDir()
	copies := map[string]string{
		composeFile:                      composeFile,
		"deploy/docker/agent.Dockerfile": "deploy/docker/agent.Dockerfile",
		"deploy/env/agent.env.example":   "deploy/branch/agent.env",
	}
	for from, to := range copies {
		b, err := os.ReadFile(filepath.Join(root, from))
		if err != nil {
			t.Fatalf("the runbook's %s: %v", from, err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, to)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "deploy/branch/postgres_password.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append(composeCommand(t), "config")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "COMPOSE_FILE=" + composeFile}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("docker-compose config with COMPOSE_FILE=%s from the branch checkout: %v\n%s", composeFile, err, stderr)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	services := keys(dig(doc, "services"))
	if env := envOf(dig(doc, "services", "agent")); env["BRANCH_ID"] == "" {
		t.Errorf("the agent does not read deploy/branch/agent.env (the file the runbook reads BRANCH_TIMEZONE from): env %v", env)
	}

	uses := composeUse.FindAllStringSubmatch(text, -1)
	if len(uses) < 10 {
		t.Fatalf("only %d docker compose commands found in the runbook", len(uses))
	}
	for _, u := range uses {
		svc := u[2]
		if svc == "" {
			svc = u[3]
			if u[3] == "agent" && !strings.HasPrefix(u[4], "/backups/") {
				t.Errorf("%q copies into the agent outside its writable /backups volume", u[0])
			}
		}
		if !contains(services, svc) {
			t.Errorf("%q names service %q; the compose file has %v", u[0], svc, services)
		}
	}
	if strings.Contains(text, "/backups") && !contains(volumeTargets(dig(doc, "services", "agent")), "/backups") {
		t.Errorf("the runbook uses /backups in the agent, which mounts %v", volumeTargets(dig(doc, "services", "agent")))
	}
	pgEnv := envOf(dig(doc, "services", "postgres"))
	for _, v := range regexp.MustCompile(`exec -T postgres printenv (\w+)`).FindAllStringSubmatch(text, -1) {
		if _, ok := pgEnv[v[1]]; !ok {
			t.Errorf("the runbook reads %s in the postgres container, which does not set it (%v)", v[1], pgEnv)
		}
	}
	// `exec agent agent …` runs the binary by name: the image must put it on PATH.
	df, _ := os.ReadFile(filepath.Join(root, "deploy/docker/agent.Dockerfile"))
	if strings.Contains(text, "exec agent agent ") && !strings.Contains(string(df), " /usr/local/bin/agent") {
		t.Error("the runbook runs `agent` in the container, but the Dockerfile does not install /usr/local/bin/agent")
	}
}
