package server

// FileLimit is the process's descriptor limit (RLIMIT_NOFILE).
type FileLimit struct {
	Soft       uint64 // the soft limit now in force
	Hard       uint64 // the hard limit, the most the soft one can be raised to
	SoftBefore uint64 // the soft limit RaiseFileLimit found
}
