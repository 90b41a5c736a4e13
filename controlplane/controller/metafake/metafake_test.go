package metafake

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
)

func claim(p int32, coord string, expected int64) *wire.Command {
	return &wire.Command{Type: wire.CmdClaimOffsetsOwner,
		ClaimOffsetsOwner: &wire.ClaimOffsetsOwnerCmd{Partition: p, Coordinator: coord, Addr: coord + ":1", ExpectedEpoch: expected}}
}

func code(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

// The ownership commands follow strand-meta's compare-and-set rules, since
// the fake applies them with the real state machine.
func TestOwnershipCompareAndSet(t *testing.T) {
	ctx := context.Background()
	m := New("test")
	resp, err := m.Propose(ctx, claim(3, "c1", 0))
	if err != nil || resp.Epoch != 1 {
		t.Fatalf("first claim: %+v, %v", resp, err)
	}
	if _, err := m.Propose(ctx, claim(3, "c2", 0)); code(err) != wire.CodeInvalidUpdateVersion {
		t.Fatalf("claim at a stale epoch: %v, want %s", err, wire.CodeInvalidUpdateVersion)
	}
	release := &wire.Command{Type: wire.CmdReleaseOffsetsOwner,
		ReleaseOffsetsOwner: &wire.ReleaseOffsetsOwnerCmd{Partition: 3, Coordinator: "c1", Epoch: 1}}
	if _, err := m.Propose(ctx, release); err != nil {
		t.Fatal(err)
	}
	if o := m.Current().OffsetsOwners[3]; o.Coordinator != "" || o.Epoch != 2 {
		t.Fatalf("after release: %+v", o)
	}
}

// While down, every call fails with NO_LEADER, in process and over HTTP;
// afterwards the state is as before.
func TestSetDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := New("test")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	client := metaclient.New([]string{strings.TrimPrefix(srv.URL, "http://")})

	if _, err := m.Propose(ctx, claim(0, "c1", 0)); err != nil {
		t.Fatal(err)
	}
	m.SetDown(true)
	if _, err := m.Image(ctx, true); code(err) != wire.CodeNoLeader {
		t.Fatalf("Image while down: %v", err)
	}
	if _, err := m.Watch(ctx, 0); code(err) != wire.CodeNoLeader {
		t.Fatalf("Watch while down: %v", err)
	}
	if _, err := m.Propose(ctx, claim(1, "c1", 0)); code(err) != wire.CodeNoLeader {
		t.Fatalf("Propose while down: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	_, err := client.Image(short, true)
	cancelShort()
	if err == nil {
		t.Fatal("the HTTP image answered while down")
	}
	m.SetDown(false)
	img, err := client.Image(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if o := img.OffsetsOwners[0]; o == nil || o.Coordinator != "c1" {
		t.Fatalf("state lost across the outage: %+v", img.OffsetsOwners)
	}
	if _, ok := img.OffsetsOwners[1]; ok {
		t.Fatal("a proposal made while down was applied")
	}
}
