//go:build !unix

package sandbox

// EnvAddressSpace has no effect where address-space limits do not exist.
const EnvAddressSpace = "STRATA_FUNCTION_WORKER_AS"

func limitAddressSpace() {}
