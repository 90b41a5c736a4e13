//go:build !race

package metastate

const raceEnabled = false
