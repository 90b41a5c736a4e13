package membership

import (
	"errors"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := func() Config { return Config{Role: RoleData, ID: "1", BindAddr: "127.0.0.1:0"} }
	cases := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"valid", func(*Config) {}, true},
		{"bare host", func(c *Config) { c.BindAddr = "127.0.0.1" }, true},
		{"no role", func(c *Config) { c.Role = "" }, false},
		{"bad role", func(c *Config) { c.Role = "broker" }, false},
		{"no id", func(c *Config) { c.ID = "" }, false},
		{"data id not a number", func(c *Config) { c.ID = "x" }, false},
		{"data id too large", func(c *Config) { c.ID = "4294967296" }, false},
		{"controller id name", func(c *Config) { c.Role = RoleController; c.ID = "ctl-1" }, true},
		{"id with slash", func(c *Config) { c.Role = RoleController; c.ID = "a/b" }, false},
		{"no bind", func(c *Config) { c.BindAddr = "" }, false},
		{"bad port", func(c *Config) { c.BindAddr = "127.0.0.1:99999" }, false},
		{"advertise hostname", func(c *Config) { c.AdvertiseAddr = "example.com:7946" }, false},
		{"advertise ip", func(c *Config) { c.AdvertiseAddr = "10.0.0.1:7946" }, true},
		{"short key", func(c *Config) { c.Keys = [][]byte{[]byte("abc")} }, false},
		{"aes-256 key", func(c *Config) { c.Keys = [][]byte{make([]byte, 32)} }, true},
		{"negative buffer", func(c *Config) { c.EventBuffer = -1 }, false},
		{"timeout above interval", func(c *Config) {
			c.Timing = DefaultTiming()
			c.Timing.ProbeTimeout = time.Second
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.mod(&c)
			err := c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if tc.ok && (c.EventBuffer != DefaultEventBuffer || c.Timing == (Timing{})) {
				t.Fatalf("defaults not filled: %+v", c)
			}
		})
	}
}

func TestTimingProfiles(t *testing.T) {
	for _, name := range Profiles() {
		tm, err := TimingProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := tm.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := TimingProfile("fast"); err == nil {
		t.Fatal("unknown profile accepted")
	}
	lan := DefaultTiming()
	if lan.ProbeInterval != 200*time.Millisecond || lan.ProbeTimeout != 100*time.Millisecond ||
		lan.SuspicionMult != 2 || lan.GossipInterval != 50*time.Millisecond || lan.GossipNodes != 3 {
		t.Fatalf("the lan profile drifted from the measured one: %+v", lan)
	}
	// The documented expectations: the tuned profile bounds detection
	// near a second, memberlist's defaults near 6 s, at 3 members.
	if b := lan.TypicalDetection(3); b > 1500*time.Millisecond {
		t.Fatalf("lan detection bound %v", b)
	}
	if b := MemberlistLANTiming().TypicalDetection(3); b < 4*time.Second {
		t.Fatalf("memberlist-lan detection bound %v", b)
	}
	if s := lan.SuspicionTimeout(100); s != 800*time.Millisecond {
		t.Fatalf("suspicion timeout at 100 members = %v, want 2 × 2 × 200ms", s)
	}
}

func TestParseKey(t *testing.T) {
	cases := map[string]bool{
		EncodeKey(make([]byte, 16)): true,
		EncodeKey(make([]byte, 24)): true,
		EncodeKey(make([]byte, 32)): true,
		EncodeKey(make([]byte, 15)): false,
		"not base64!!":              false,
		"":                          false,
	}
	for in, ok := range cases {
		_, err := ParseKey(in)
		if ok != (err == nil) {
			t.Errorf("ParseKey(%q) err = %v", in, err)
		}
		if err != nil && !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(%q) err %v does not wrap ErrBadKey", in, err)
		}
	}
}
