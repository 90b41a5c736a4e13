//go:build race

package metastate

const raceEnabled = true
