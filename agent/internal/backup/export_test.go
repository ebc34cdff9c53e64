package backup

import "os"

// SetOpenFile makes r open the files of its dump step with open.
func SetOpenFile(r *Runner, open func(name string, flag int, perm os.FileMode) (*os.File, error)) {
	r.openFile = open
}
