package codepipeline

import (
	"maps"
	"slices"
)

// Operations lists the API operations the emulator serves. The
// conformance tests check that AWS's model describes every one, so an
// operation added later is held to the model too.
func Operations() []string { return slices.Sorted(maps.Keys(operations)) }
