package group

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"strand.dev/client/wire"
)

// Config bounds and defaults a group's members. The zero value of a field
// means its default.
type Config struct {
	// MinSessionTimeout and MaxSessionTimeout bound the session.timeout.ms a
	// member may ask for (Kafka's group.min/max.session.timeout.ms; defaults
	// 6 s and 30 min).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// DefaultSessionTimeout is used when a join names none (45 s).
	DefaultSessionTimeout time.Duration
	// DefaultRebalanceTimeout (max.poll.interval.ms) is used when a join
	// names none (5 min).
	DefaultRebalanceTimeout time.Duration
	// HeartbeatInterval is the interval members are told to heartbeat at
	// when they do not long-poll (3 s), at most a third of their session
	// timeout.
	HeartbeatInterval time.Duration
	// MaxMembers bounds a group's size (group.max.size; default 1000).
	MaxMembers int
	// MaxTopics bounds a member's subscription (default 10000).
	MaxTopics int
	// NewMemberID makes a member id for a join that brings none (default: a
	// random 128-bit hex id). Tests inject a deterministic one.
	NewMemberID func() string
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.DefaultSessionTimeout <= 0 {
		c.DefaultSessionTimeout = wire.DefaultSessionTimeoutMs * time.Millisecond
	}
	if c.DefaultRebalanceTimeout <= 0 {
		c.DefaultRebalanceTimeout = wire.DefaultRebalanceTimeoutMs * time.Millisecond
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = wire.DefaultHeartbeatIntervalMs * time.Millisecond
	}
	if c.MaxMembers <= 0 {
		c.MaxMembers = 1000
	}
	if c.MaxTopics <= 0 {
		c.MaxTopics = 10000
	}
	if c.NewMemberID == nil {
		c.NewMemberID = randomMemberID
	}
	return c
}

// Validate reports inconsistent bounds.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if c.MinSessionTimeout > c.MaxSessionTimeout {
		return fmt.Errorf("group: min session timeout %v is above the max %v", c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	if c.DefaultSessionTimeout < c.MinSessionTimeout || c.DefaultSessionTimeout > c.MaxSessionTimeout {
		return fmt.Errorf("group: default session timeout %v is outside [%v, %v]", c.DefaultSessionTimeout, c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	return nil
}

// randomMemberID returns 32 random hex digits.
func randomMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
