//go:build unix

package sandbox

import (
	"os"
	"strconv"
	"syscall"
)

// EnvAddressSpace is the worker's address-space limit in bytes: the hard stop behind
// the watchdog, for a single allocation too large to wait for (the runtime then fails
// the allocation and the worker exits; the node reports the run over memory).
const EnvAddressSpace = "STRATA_FUNCTION_WORKER_AS"

func limitAddressSpace() {
	n, err := strconv.ParseUint(os.Getenv(EnvAddressSpace), 10, 64)
	if err != nil || n == 0 {
		return
	}
	_ = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: n, Max: n})
}
