package doctor

import (
	"os"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/options"
)

// backupDir writes and removes a small file in BACKUP_DIR and wants free
// space for two dumps the size of the newest one (the new dump is written
// beside the old ones; an encrypted copy needs the same again).
func (c *checker) backupDir() Result {
	const setting = options.EnvBackupDir
	o := c.cfg.Options
	dir := o.BackupDir
	fi, err := os.Stat(dir)
	if err != nil {
		return fail(CheckBackupDir, setting, "%s: %v", dir, unwrapPath(err))
	}
	if !fi.IsDir() {
		return fail(CheckBackupDir, setting, "%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return fail(CheckBackupDir, setting, "%s is not writable: %v", dir, unwrapPath(err))
	}
	_, werr := f.Write([]byte("branchwatch doctor\n"))
	serr := f.Sync()
	cerr := f.Close()
	_ = os.Remove(f.Name())
	for _, err := range []error{werr, serr, cerr} {
		if err != nil {
			return fail(CheckBackupDir, setting, "%s: writing a file failed: %v", dir, unwrapPath(err))
		}
	}
	freeSpace := c.cfg.FreeSpace
	if freeSpace == nil {
		freeSpace = backup.FreeSpace
	}
	free, err := freeSpace(dir)
	if err != nil {
		return fail(CheckBackupDir, setting, "%s: free space unknown: %v", dir, err)
	}
	last := int64(0)
	lastName := "no dump yet"
	if dumps, err := backup.ListLocal(dir, o.BranchID, o.Location); err == nil && len(dumps) > 0 {
		last, lastName = dumps[len(dumps)-1].Size, "the last dump "+dumps[len(dumps)-1].Name
	}
	need := uint64(2 * max(last, o.MinDumpBytes))
	if free < need {
		return fail(CheckBackupDir, setting, "%s has %s free, less than twice %s (%s): free some space or move BACKUP_DIR",
			dir, backup.HumanBytes(int64(free)), lastName, backup.HumanBytes(last))
	}
	return pass(CheckBackupDir, setting, "%s is writable, %s free (twice %s needs %s)", dir, backup.HumanBytes(int64(free)), lastName, backup.HumanBytes(int64(need)))
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
