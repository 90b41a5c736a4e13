package metaclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// proposeOK answers a propose with the command's type echoed in Version's
// place: version 7.
func proposeOK(f *fakeMeta, ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != wire.PathMetaPropose || !ctx.IsPost() {
		writeErr(ctx, wire.Errorf(wire.CodeInvalidRequest, "unexpected %s %s", ctx.Method(), ctx.Path()))
		return
	}
	var cmd wire.Command
	if err := json.Unmarshal(ctx.PostBody(), &cmd); err != nil || cmd.Type != wire.CmdNoop {
		writeErr(ctx, wire.Errorf(wire.CodeInvalidRequest, "bad body %q", ctx.PostBody()))
		return
	}
	writeJSON(ctx, wire.ProposeResponse{Version: 7})
}

func noopCmd() *wire.Command { return &wire.Command{Type: wire.CmdNoop} }

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestProposeFailsOverFromADeadAddress(t *testing.T) {
	good := startFake(t, "", proposeOK)
	c := fastClient([]string{deadAddr(t), "http://" + good.addr + "/"})
	for i := 0; i < 3; i++ {
		resp, err := c.Propose(testCtx(t, 30*time.Second), noopCmd())
		if err != nil || resp.Version != 7 {
			t.Fatalf("propose %d: %+v %v", i, resp, err)
		}
	}
	if good.hits.Load() != 3 {
		t.Fatalf("good node got %d requests", good.hits.Load())
	}
	// The client now starts with the address that answered.
	if c.first.Load() != 1 {
		t.Fatalf("preferred address index %d", c.first.Load())
	}
}

func TestProposeRetriesNoLeader(t *testing.T) {
	var calls atomic.Int64
	f := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		if calls.Add(1) <= 3 {
			writeErr(ctx, wire.Errorf(wire.CodeNoLeader, "election in progress"))
			return
		}
		proposeOK(f, ctx)
	})
	resp, err := fastClient([]string{f.addr}).Propose(testCtx(t, 30*time.Second), noopCmd())
	if err != nil || resp.Version != 7 || calls.Load() != 4 {
		t.Fatalf("resp %+v err %v after %d calls", resp, err, calls.Load())
	}
}

func TestProposeFollowsTheLeaderHint(t *testing.T) {
	leader := startFake(t, "", proposeOK)
	follower := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		writeErr(ctx, &wire.Error{Code: wire.CodeNotLeader, Message: "not the leader", LeaderAddr: leader.addr})
	})
	resp, err := fastClient([]string{follower.addr, deadAddr(t)}).Propose(testCtx(t, 30*time.Second), noopCmd())
	if err != nil || resp.Version != 7 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if follower.hits.Load() != 1 || leader.hits.Load() != 1 {
		t.Fatalf("follower %d, leader %d requests", follower.hits.Load(), leader.hits.Load())
	}
}

func TestNonRetriableErrorReturnedAtOnce(t *testing.T) {
	f := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		writeErr(ctx, wire.Errorf(wire.CodeStaleControllerEpoch, "controller epoch 2 is not the current epoch 3"))
	})
	other := startFake(t, "", proposeOK)
	_, err := fastClient([]string{f.addr, other.addr}).Propose(testCtx(t, 30*time.Second), noopCmd())
	if !errors.Is(err, wire.ErrStaleControllerEpoch) {
		t.Fatalf("err %v", err)
	}
	var we *wire.Error
	if !errors.As(err, &we) || !strings.Contains(we.Message, "epoch 3") {
		t.Fatalf("message lost: %v", err)
	}
	if f.hits.Load() != 1 || other.hits.Load() != 0 || Retriable(err) {
		t.Fatalf("retried: %d + %d requests", f.hits.Load(), other.hits.Load())
	}
}

func TestDeadlineHonouredWhileNoLeader(t *testing.T) {
	f := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		writeErr(ctx, wire.Errorf(wire.CodeNoLeader, "no leader"))
	})
	c := fastClient([]string{f.addr, deadAddr(t)})
	start := time.Now()
	_, err := c.Propose(testCtx(t, 300*time.Millisecond), noopCmd())
	elapsed := time.Since(start)
	var te *TransportError
	if !errors.Is(err, context.DeadlineExceeded) || !(errors.Is(err, wire.ErrNoLeader) || errors.As(err, &te)) {
		t.Fatalf("err %v: want the deadline and the last failure", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("returned after %v", elapsed)
	}
	if f.hits.Load() < 2 {
		t.Fatalf("only %d attempts in %v", f.hits.Load(), elapsed)
	}
}

func TestDeadlineHonouredWhileServerHangs(t *testing.T) {
	f := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) { f.hang() })
	c := fastClient([]string{f.addr}, WithTimeout(time.Minute))
	contexts := map[string]func() context.Context{
		"deadline": func() context.Context { return testCtx(t, 300*time.Millisecond) },
		"cancel": func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx
		},
	}
	for name, mk := range contexts {
		start := time.Now()
		_, err := c.Propose(mk(), noopCmd())
		elapsed := time.Since(start)
		if elapsed > 10*time.Second || elapsed < 250*time.Millisecond {
			t.Fatalf("%s: returned after %v", name, elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: err %v", name, err)
		}
		if Retriable(err) {
			t.Fatalf("%s: context error called retriable", name)
		}
	}
}

func TestAttemptTimeoutMovesOn(t *testing.T) {
	hung := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) { f.hang() })
	good := startFake(t, "", proposeOK)
	c := fastClient([]string{hung.addr, good.addr}, WithTimeout(200*time.Millisecond))
	resp, err := c.Propose(testCtx(t, 30*time.Second), noopCmd())
	if err != nil || resp.Version != 7 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
}

func TestMaxAttempts(t *testing.T) {
	c := fastClient([]string{deadAddr(t), deadAddr(t)}, WithMaxAttempts(3))
	start := time.Now()
	_, err := c.Propose(context.Background(), noopCmd())
	var te *TransportError
	if !errors.As(err, &te) || !Retriable(err) || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestOversizedResponseRejected(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 2<<20)
	f := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		writeJSON(ctx, wire.Image{ClusterID: string(big)})
	})
	c := fastClient([]string{f.addr}, WithMaxResponseBytes(1<<20))
	_, err := c.Image(testCtx(t, 30*time.Second), true)
	if !errors.Is(err, ErrResponseTooLarge) || Retriable(err) {
		t.Fatalf("err %v", err)
	}
	if f.hits.Load() != 1 {
		t.Fatalf("%d requests", f.hits.Load())
	}
	// Within the limit it works.
	img, err := fastClient([]string{f.addr}, WithMaxResponseBytes(4<<20)).Image(testCtx(t, 30*time.Second), true)
	if err != nil || len(img.ClusterID) != len(big) {
		t.Fatalf("err %v", err)
	}
}

func TestAnswersWithoutEnvelope(t *testing.T) {
	var calls atomic.Int64
	gateway := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		if calls.Add(1) == 1 {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			return
		}
		proposeOK(f, ctx)
	})
	if _, err := fastClient([]string{gateway.addr}).Propose(testCtx(t, 30*time.Second), noopCmd()); err != nil {
		t.Fatalf("502 then success: %v", err)
	}
	notFound := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) { ctx.Error("no such page", fasthttp.StatusNotFound) })
	_, err := fastClient([]string{notFound.addr}).Propose(testCtx(t, 30*time.Second), noopCmd())
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeUnknown || !strings.Contains(we.Message, "404") || notFound.hits.Load() != 1 {
		t.Fatalf("404: %v after %d requests", err, notFound.hits.Load())
	}
	garbage := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) { ctx.SetBodyString("{not json") })
	_, err = fastClient([]string{garbage.addr}, WithMaxAttempts(2)).Propose(testCtx(t, 30*time.Second), noopCmd())
	var te *TransportError
	if !errors.As(err, &te) || garbage.hits.Load() != 2 {
		t.Fatalf("garbage: %v after %d requests", err, garbage.hits.Load())
	}
}

func TestNoAddresses(t *testing.T) {
	if _, err := New([]string{"", " "}).Image(context.Background(), false); !errors.Is(err, ErrNoAddresses) {
		t.Fatalf("err %v", err)
	}
}

// TestRequests checks the method, path, query and body of every call.
func TestRequests(t *testing.T) {
	type seen struct{ method, path, query, body string }
	var last atomic.Pointer[seen]
	f := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		last.Store(&seen{string(ctx.Method()), string(ctx.Path()), string(ctx.QueryArgs().QueryString()), string(ctx.PostBody())})
		switch string(ctx.Path()) {
		case wire.PathMetaImage, wire.PathMetaWatch:
			writeJSON(ctx, wire.Image{Version: 4, ClusterID: "c"})
		case wire.PathMetaStatus:
			writeJSON(ctx, wire.MetaStatus{ID: 2, Leader: 1, State: "StateFollower"})
		case wire.PathMetaMembers:
			if ctx.IsGet() {
				writeJSON(ctx, wire.MembersResponse{Members: []wire.MemberStatus{{ID: 1}, {ID: 2}}})
			}
		case wire.PathMetadata:
			writeJSON(ctx, wire.Metadata{ClusterID: "c", Version: 4})
		default:
			ctx.Error("?", fasthttp.StatusNotFound)
		}
	})
	c := fastClient([]string{f.addr}, WithWatchWait(1500*time.Millisecond))
	ctx := testCtx(t, 30*time.Second)
	check := func(call string, err error, method, path, query, body string) {
		t.Helper()
		s := last.Load()
		if err != nil || s.method != method || s.path != path || s.query != query || s.body != body {
			t.Fatalf("%s: err %v, sent %+v", call, err, s)
		}
	}
	img, err := c.Image(ctx, false)
	check("image", err, "GET", wire.PathMetaImage, "", "")
	if img.Version != 4 {
		t.Fatalf("image %+v", img)
	}
	_, err = c.Image(ctx, true)
	check("stale image", err, "GET", wire.PathMetaImage, "stale=true", "")
	_, err = c.Watch(ctx, 3)
	check("watch", err, "GET", wire.PathMetaWatch, "timeout_ms=1500&version=3", "")
	st, err := c.Status(ctx, "")
	check("status", err, "GET", wire.PathMetaStatus, "", "")
	if st.ID != 2 || st.Leader != 1 {
		t.Fatalf("status %+v", st)
	}
	st, err = c.Status(ctx, f.addr)
	check("status of one", err, "GET", wire.PathMetaStatus, "", "")
	if _, err := c.Status(ctx, deadAddr(t)); err == nil {
		t.Fatal("status of a dead node answered")
	}
	ms, err := c.Members(ctx)
	check("members", err, "GET", wire.PathMetaMembers, "", "")
	if len(ms) != 2 {
		t.Fatalf("members %+v", ms)
	}
	err = c.AddMember(ctx, wire.AddMemberRequest{ID: 4, PeerAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"})
	check("add member", err, "POST", wire.PathMetaMembers, "", `{"id":4,"peer_addr":"127.0.0.1:1","api_addr":"127.0.0.1:2"}`)
	err = c.RemoveMember(ctx, 4)
	check("remove member", err, "DELETE", wire.PathMetaMembers, "id=4", "")
	md, err := c.Metadata(ctx)
	check("metadata", err, "GET", wire.PathMetadata, "", "")
	if md.Version != 4 {
		t.Fatalf("metadata %+v", md)
	}
}

func TestRetriable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&TransportError{Addr: "a", Path: "/p", Err: errors.New("connection refused")}, true},
		{fmt.Errorf("wrapped: %w", &TransportError{Err: errors.New("reset")}), true},
		{&TransportError{Err: fmt.Errorf("%w: big", ErrResponseTooLarge)}, false},
		{wire.Errorf(wire.CodeNoLeader, "x"), true},
		{wire.Errorf(wire.CodeNotLeader, "x"), true},
		{wire.Errorf(wire.CodeRequestTimedOut, "x"), true},
		{wire.Errorf(wire.CodeShuttingDown, "x"), true},
		{wire.Errorf(wire.CodeStaleControllerEpoch, "x"), false},
		{wire.Errorf(wire.CodeInvalidUpdateVersion, "x"), false},
		// Retriable on the data plane, final for a proposal.
		{wire.Errorf(wire.CodeNotLeaderOrFollower, "x"), false},
		{wire.Errorf(wire.CodeUnknownTopicOrPartition, "x"), false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("%w (last error: %w)", context.Canceled, wire.Errorf(wire.CodeNoLeader, "x")), false},
		{errors.New("other"), false},
	} {
		if got := Retriable(tc.err); got != tc.want {
			t.Errorf("Retriable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	p := backoffPolicy{base: 10 * time.Millisecond, max: 100 * time.Millisecond}
	for n, want := range map[int]time.Duration{1: 10, 2: 20, 3: 40, 4: 80, 5: 100, 60: 100} {
		for i := 0; i < 100; i++ {
			d := p.delay(n)
			if hi, lo := want*time.Millisecond, want*time.Millisecond*4/5; d > hi || d < lo {
				t.Fatalf("delay(%d) = %v, want %v to %v", n, d, lo, hi)
			}
		}
	}
}
