package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/branchwatch/branchwatch/agent/internal/restore"
)

// stdinIsTerminal says whether Stdin is a terminal (replaced in tests). A
// character device is not enough: /dev/null is one.
var stdinIsTerminal = func() bool {
	f, ok := Stdin.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// confirmReplacement is restore's question before it replaces the tables
// of a non-empty target: it lists them with their row counts on w, then
// asks on a terminal; without one, --yes (yes) is the confirmation.
func confirmReplacement(w io.Writer, yes bool) func(restore.Replacement) error {
	return func(rep restore.Replacement) error {
		what := rep.Backup
		if what == "" {
			what = "the newest good backup"
		}
		fmt.Fprintf(w, "database %s is not empty: restoring %s replaces these %d tables (%d rows in all):\n", rep.Database, what, len(rep.Tables), rep.Rows())
		for _, t := range rep.Tables {
			if t.Rows == restore.RowsUnknown {
				fmt.Fprintf(w, "  %-40s %12s rows (no SELECT right to count them)\n", t.Table, "?")
				continue
			}
			fmt.Fprintf(w, "  %-40s %12d rows\n", t.Table, t.Rows)
		}
		if !stdinIsTerminal() {
			if yes {
				fmt.Fprintln(w, "--yes given: replacing them")
				return nil
			}
			return fmt.Errorf("%w: %s has %d tables with %d rows; standard input is not a terminal, so pass --yes to replace them",
				restore.ErrTargetNotEmpty, rep.Database, len(rep.Tables), rep.Rows())
		}
		fmt.Fprintf(w, "type yes to replace them, anything else stops: ")
		line, _ := bufio.NewReader(Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return fmt.Errorf("%w: not confirmed, %s left as it was", restore.ErrTargetNotEmpty, rep.Database)
		}
		return nil
	}
}
