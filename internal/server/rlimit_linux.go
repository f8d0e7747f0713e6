package server

import "syscall"

// RaiseFileLimit raises the soft RLIMIT_NOFILE (the descriptor limit that
// accept and dial run into) to the hard limit and reports both. The Go
// runtime already raises it to hard-1 at start-up (syscall's init); this
// makes the whole hard limit available and states the figures rtgate runs
// with, for the start-up log and the default MAX_CONNS.
func RaiseFileLimit() (FileLimit, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return FileLimit{}, err
	}
	fl := FileLimit{Soft: lim.Cur, Hard: lim.Max, SoftBefore: lim.Cur}
	if lim.Cur >= lim.Max {
		return fl, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fl, err
	}
	fl.Soft = lim.Max
	return fl, nil
}
