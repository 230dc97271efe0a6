package functions

import (
	"strings"

	"strata/schema"
)

// MatchEndpoint finds the enabled endpoint function answering method and path (the
// part after /fn/), with its path parameters. Fixed segments win over parameters, the
// method named wins over ANY.
func MatchEndpoint(m *schema.Model, method, path string) (*schema.Function, map[string]string) {
	segs := schema.SplitPath(path)
	var best *schema.Function
	bestScore := -1
	for i := range m.Functions {
		f := &m.Functions[i]
		if f.Kind != "endpoint" || !f.Enabled || (f.Method != method && f.Method != "ANY") {
			continue
		}
		pat := schema.SplitPath(f.Path)
		if len(pat) != len(segs) {
			continue
		}
		score, ok := 0, true
		for j, p := range pat {
			switch {
			case strings.HasPrefix(p, ":"):
			case p == segs[j]:
				score += 2 << (len(pat) - j) // earlier fixed segments weigh more
			default:
				ok = false
			}
			if !ok {
				break
			}
		}
		if f.Method == method {
			score++
		}
		if ok && score > bestScore {
			best, bestScore = f, score
		}
	}
	if best == nil {
		return nil, nil
	}
	params := map[string]string{}
	for j, p := range schema.SplitPath(best.Path) {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			params[name] = segs[j]
		}
	}
	return best, params
}
