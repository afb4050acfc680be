//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package main

import "os"

// isTerminal guesses from the file mode: a character device is most likely
// a terminal (it may also be /dev/null, where a progress bar does no harm).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// termWidth is unknown here.
func termWidth(*os.File) int { return 0 }
