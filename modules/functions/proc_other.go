//go:build !linux

package functions

import "os/exec"

func setProcAttr(*exec.Cmd) {}
