package groupcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/admin"
	"strand.dev/client/wire"
	"strand.dev/e2e/harness"
)

// bins builds the binaries the tests run, once per test binary.
var bins *harness.Binaries

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, &bins))
}

func binary(t testing.TB, name string) string {
	t.Helper()
	return bins.Must(t, name)
}

// cluster is one strand-meta, one controller, two data nodes in cluster
// mode and two coordinators, as processes on loopback.
type cluster struct {
	t      *testing.T
	meta   string
	coords []string
	hc     *http.Client
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	data := binary(t, "strand-data") // built before the deadline starts
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, data, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("strand-data --help: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--meta") {
		t.Skip("this strand-data has no cluster mode (--meta) yet")
	}
	c := &cluster{t: t, meta: harness.FreeAddr(t), hc: &http.Client{Timeout: 30 * time.Second}}
	meta := harness.Start(t, "strand-meta-1", binary(t, "strand-meta"), "--id", "1", "--listen", c.meta,
		"--initial-cluster", "1="+c.meta, "--data-dir", t.TempDir(), "--cluster-id", "e2e-groupcli", "--log-level", "warn")
	harness.WaitHealthy(t, meta, c.meta, 60*time.Second)

	gossip := make([]string, 5) // controller, 2 data nodes, 2 coordinators
	for i := range gossip {
		gossip[i] = harness.FreeAddr(t)
	}
	join := strings.Join(gossip, ",")
	harness.Start(t, "strand-controller-1", binary(t, "strand-controller"),
		"--id", "controller-1", "--listen", harness.FreeAddr(t), "--meta", c.meta,
		"--gossip-bind", gossip[0], "--join", join, "--gossip-retry-join", "200ms",
		"--lease", "1s", "--reconcile-interval", "500ms", "--log-level", "warn")
	for i := 1; i <= 2; i++ {
		addr := harness.FreeAddr(t)
		p := harness.Start(t, fmt.Sprintf("strand-data-%d", i), binary(t, "strand-data"),
			"--node-id", strconv.Itoa(i), "--listen", addr, "--data-dir", t.TempDir(), "--meta", c.meta,
			"--gossip-bind", gossip[i], "--join", join, "--gossip-retry-join", "200ms", "--log-level", "warn")
		harness.WaitHealthy(t, p, addr, 90*time.Second)
	}
	// 10 offsets partitions: rendezvous hashing gives both coordinator ids
	// some (with 6, coordinator-2 would own them all).
	for i := 1; i <= 2; i++ {
		addr := harness.FreeAddr(t)
		p := harness.Start(t, fmt.Sprintf("strand-coordinator-%d", i), binary(t, "strand-coordinator"),
			"--id", fmt.Sprintf("coordinator-%d", i), "--listen", addr, "--meta", c.meta,
			"--gossip-bind", gossip[2+i], "--join", join, "--offsets-partitions", "10", "--log-level", "info")
		harness.WaitHealthy(t, p, addr, 90*time.Second)
		c.coords = append(c.coords, addr)
	}
	adm, err := admin.New(admin.Bootstrap(c.meta), admin.RetryTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	c.eventually(120*time.Second, "both coordinators own offsets partitions and both data nodes are alive", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := adm.ClusterStatus(ctx)
		if err != nil {
			return err
		}
		alive := 0
		for _, d := range st.DataNodes {
			if d.Alive {
				alive++
			}
		}
		if len(st.Coordinators) != 2 || alive != 2 {
			return fmt.Errorf("coordinators %v, %d data nodes alive", st.Coordinators, alive)
		}
		return nil
	})
	return c
}

// eventually polls fn until it returns nil or timeout passes.
func (c *cluster) eventually(timeout time.Duration, what string, fn func() error) {
	c.t.Helper()
	harness.EventuallyNil(c.t, timeout, what, fn)
}

// strand runs the CLI against the cluster, with a deadline, and returns its
// exit code and output.
func (c *cluster) strand(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	bin := binary(c.t, "strand") // built before the deadline starts
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-b", c.meta, "--request-timeout", "60s"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		c.t.Fatalf("strand %s: no exit within the deadline\nstdout %s\nstderr %s", strings.Join(args, " "), out.String(), errb.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("strand %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// mustStrand runs the CLI and fails the test unless it exits 0.
func (c *cluster) mustStrand(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errs := c.strand(stdin, args...)
	if code != 0 {
		c.t.Fatalf("strand %s: exit %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// call sends one group request to addr and decodes the answer.
func (c *cluster) call(addr, path string, q url.Values, in, out any) error {
	u := "http://" + addr + path
	if q != nil {
		u += "?" + q.Encode()
	}
	var resp *http.Response
	var err error
	if in == nil {
		resp, err = c.hc.Get(u)
	} else {
		b, _ := json.Marshal(in)
		resp, err = c.hc.Post(u, wire.ContentTypeJSON, bytes.NewReader(b))
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return wire.UnmarshalError(resp.StatusCode, body)
	}
	return json.Unmarshal(body, out)
}

// owner asks a coordinator which coordinator owns group.
func (c *cluster) owner(group string) string {
	c.t.Helper()
	var fc wire.FindCoordinatorResponse
	c.eventually(60*time.Second, "find the coordinator of "+group, func() error {
		return c.call(c.coords[0], wire.PathGroupCoordinator, url.Values{wire.ParamGroup: {group}}, nil, &fc)
	})
	return fc.Addr
}

// groupCall sends a group request to the group's coordinator, retrying
// while ownership settles or the partition loads.
func (c *cluster) groupCall(group, path string, in, out any) error {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.call(c.owner(group), path, nil, in, out)
		var we *wire.Error
		if err == nil || !errors.As(err, &we) || !we.Retriable() || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// member is a group member speaking the wire protocol directly: it joins,
// heartbeats in the background and leaves.
type member struct {
	c     *cluster
	group string
	id    string

	mu  sync.Mutex
	ans wire.MemberAssignment

	stop chan struct{}
	done chan struct{}
}

func (c *cluster) join(group, id string, topics ...string) *member {
	c.t.Helper()
	m := &member{c: c, group: group, id: id, stop: make(chan struct{}), done: make(chan struct{})}
	req := wire.JoinGroupRequest{GroupID: group, MemberID: id, ClientID: "e2e-client", Topics: topics, Assignors: []string{wire.AssignorRange}}
	if err := c.groupCall(group, wire.PathGroupJoin, req, &m.ans); err != nil {
		c.t.Fatalf("join %s: %v", group, err)
	}
	go m.heartbeats()
	c.t.Cleanup(m.halt)
	return m
}

func (m *member) assignment() wire.MemberAssignment {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ans
}

// heartbeats keeps the member alive (short heartbeats every 500 ms) until
// halted.
func (m *member) heartbeats() {
	defer close(m.done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		a := m.assignment()
		req := wire.HeartbeatRequest{GroupID: m.group, MemberID: m.id, Generation: a.Generation, Owned: a.Assigned}
		var ans wire.MemberAssignment
		if err := m.c.call(m.c.owner(m.group), wire.PathGroupHeartbeat, nil, req, &ans); err == nil {
			m.mu.Lock()
			m.ans = ans
			m.mu.Unlock()
		}
	}
}

func (m *member) halt() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// leave stops the heartbeats and leaves the group.
func (m *member) leave() {
	m.c.t.Helper()
	m.halt()
	var lr wire.LeaveGroupResponse
	if err := m.c.groupCall(m.group, wire.PathGroupLeave, wire.LeaveGroupRequest{GroupID: m.group, MemberID: m.id, Reason: "test"}, &lr); err != nil {
		m.c.t.Fatalf("leave: %v", err)
	}
}

// describe runs `strand group describe -o json`.
func (c *cluster) describe(group string) wire.GroupDescription {
	c.t.Helper()
	var d wire.GroupDescription
	out := c.mustStrand("", "group", "describe", group, "-o", "json")
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		c.t.Fatalf("describe %s: %v\n%s", group, err, out)
	}
	return d
}

// lags renders a description's offsets as "p:committed/end/lag ...".
func lags(d wire.GroupDescription) string {
	var parts []string
	for _, o := range d.Offsets {
		parts = append(parts, fmt.Sprintf("%d:%d/%d/%d", o.Partition, o.Offset, o.LogEndOffset, o.Lag))
	}
	return strings.Join(parts, " ")
}

// produce writes n records to a partition with acks=all.
func (c *cluster) produce(topic string, p, n int) {
	c.t.Helper()
	var lines strings.Builder
	for i := range n {
		fmt.Fprintf(&lines, "p%d-r%d\n", p, i)
	}
	c.mustStrand(lines.String(), "produce", topic, "--partition", strconv.Itoa(p), "--acks", "all")
}

// TestGroupCommands: a group with a member shows its members, committed
// offsets and lag; resets and deletes are refused while it has a member,
// work once it is empty, and bad input is refused clearly.
func TestGroupCommands(t *testing.T) {
	c := startCluster(t)
	c.mustStrand("", "topic", "create", "orders", "--partitions", "3", "--replication-factor", "2")
	c.produce("orders", 0, 10)
	c.produce("orders", 1, 5)
	// Partition 0 gets 5 more records, all stamped after mid.
	mid := time.Now()
	for !time.Now().After(mid.Add(2 * time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
	c.produce("orders", 0, 5)

	// A member joins and commits 4 on partition 0 and 5 on partition 1.
	m := c.join("billing", "member-1", "orders")
	c.eventually(30*time.Second, "the member owns the 3 partitions", func() error {
		a := m.assignment()
		if len(a.Assigned) != 1 || len(a.Assigned[0].Partitions) != 3 {
			return fmt.Errorf("assigned %+v", a.Assigned)
		}
		return nil
	})
	commit := wire.OffsetCommitRequest{GroupID: "billing", MemberID: "member-1", Generation: m.assignment().Generation, Offsets: []wire.OffsetCommit{
		{Topic: "orders", Partition: 0, Offset: 4, LeaderEpoch: -1, Metadata: "e2e"},
		{Topic: "orders", Partition: 1, Offset: 5, LeaderEpoch: -1},
	}}
	var cr wire.OffsetCommitResponse
	if err := c.groupCall("billing", wire.PathGroupCommit, commit, &cr); err != nil || cr.Committed != 2 {
		t.Fatalf("commit: %+v %v", cr, err)
	}

	// A second, memberless group, created by a reset, on the other
	// coordinator if a name can be found that lands there.
	audit := "audit"
	for i := range 40 {
		name := fmt.Sprintf("audit-%d", i)
		if c.owner(name) != c.owner("billing") {
			audit = name
			break
		}
	}
	out := c.mustStrand("", "group", "reset-offsets", audit, "--topic", "orders", "--to-latest")
	if !strings.Contains(out, "NEW-OFFSET") {
		t.Fatalf("reset of %s:\n%s", audit, out)
	}

	// list, from each coordinator, names both groups.
	for _, coord := range c.coords {
		var l wire.ListGroupsResponse
		out := c.mustStrand("", "group", "list", "-o", "json", "--coordinator", coord)
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		got := map[string]wire.GroupListing{}
		for _, g := range l.Groups {
			got[g.GroupID] = g
		}
		if b, a := got["billing"], got[audit]; b.Members != 1 || b.Assignor != wire.AssignorRange || a.GroupID == "" || a.Members != 0 || len(l.Unreachable) != 0 {
			t.Fatalf("list from %s: %+v", coord, l)
		}
	}
	out = c.mustStrand("", "group", "list")
	if !strings.Contains(out, "billing") || !strings.Contains(out, audit) {
		t.Fatalf("group list:\n%s", out)
	}
	t.Logf("strand group list:\n%s", out)

	// describe: the member, its assignment, committed offsets and lag.
	d := c.describe("billing")
	if d.State != wire.GroupStateStable || d.Assignor != wire.AssignorRange || len(d.Members) != 1 || d.CoordinatorAddr != c.owner("billing") {
		t.Fatalf("describe: %+v", d)
	}
	if mem := d.Members[0]; mem.MemberID != "member-1" || mem.ClientID != "e2e-client" || mem.ClientHost != "127.0.0.1" || len(mem.Assigned) != 1 || len(mem.Assigned[0].Partitions) != 3 {
		t.Fatalf("member: %+v", mem)
	}
	if got := lags(d); got != "0:4/15/11 1:5/5/0 2:-1/0/-1" {
		t.Fatalf("offsets %s, want 0:4/15/11 1:5/5/0 2:-1/0/-1", got)
	}
	if d.Offsets[0].MemberID != "member-1" || d.Offsets[0].Metadata != "e2e" {
		t.Fatalf("partition 0: %+v", d.Offsets[0])
	}
	out = c.mustStrand("", "group", "describe", "billing")
	if !strings.Contains(out, "total lag 11") || !strings.Contains(out, "e2e-client") {
		t.Fatalf("describe table:\n%s", out)
	}
	t.Logf("strand group describe billing:\n%s", out)

	// While the member is there: no reset, no delete, nothing changes.
	code, _, errs := c.strand("", "group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest")
	if code != 1 || !strings.Contains(errs, "NON_EMPTY_GROUP") {
		t.Fatalf("reset with a member: exit %d, %s", code, errs)
	}
	code, _, errs = c.strand("", "group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", "--dry-run")
	if code != 1 || !strings.Contains(errs, "NON_EMPTY_GROUP") {
		t.Fatalf("dry-run reset with a member: exit %d, %s", code, errs)
	}
	code, _, errs = c.strand("", "group", "delete", "billing")
	if code != 1 || !strings.Contains(errs, "NON_EMPTY_GROUP") {
		t.Fatalf("delete with a member: exit %d, %s", code, errs)
	}
	if got := lags(c.describe("billing")); got != "0:4/15/11 1:5/5/0 2:-1/0/-1" {
		t.Fatalf("refused changes changed the offsets: %s", got)
	}

	// Empty: resets work.
	m.leave()
	d = c.describe("billing")
	if d.State != wire.GroupStateEmpty || len(d.Members) != 0 || lags(d) != "0:4/15/11 1:5/5/0" {
		t.Fatalf("describe of the empty group: %s %d members, %s", d.State, len(d.Members), lags(d))
	}
	out = c.mustStrand("", "group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", "--dry-run")
	if !strings.Contains(out, "dry run") {
		t.Fatalf("dry run:\n%s", out)
	}
	if got := lags(c.describe("billing")); got != "0:4/15/11 1:5/5/0" {
		t.Fatalf("a dry run changed the offsets: %s", got)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"--to-offset", "7", "--partitions", "0"}, "0:7/15/8 1:5/5/0"},
		{[]string{"--to-earliest"}, "0:0/15/15 1:0/5/5 2:0/0/0"},
		{[]string{"--to-latest", "--partitions", "1,2"}, "0:0/15/15 1:5/5/0 2:0/0/0"},
		{[]string{"--to-offset", "1000"}, "0:15/15/0 1:5/5/0 2:0/0/0"},
		// The first record at or after 1 ms past mid is partition 0's 10th;
		// partition 1 has none (its end), partition 2 is empty.
		{[]string{"--to-datetime", mid.Add(time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z07:00")}, "0:10/15/5 1:5/5/0 2:0/0/0"},
	}
	for _, s := range steps {
		c.mustStrand("", append([]string{"group", "reset-offsets", "billing", "--topic", "orders"}, s.args...)...)
		if got := lags(c.describe("billing")); got != s.want {
			t.Fatalf("after reset %v: %s, want %s", s.args, got, s.want)
		}
	}

	// Bad input: clear failures (exit 1) and usage errors (exit 2).
	for _, b := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"group", "describe", "nope"}, 1, `group "nope" does not exist`},
		{[]string{"group", "delete", "nope"}, 1, `group "nope" does not exist`},
		{[]string{"group", "reset-offsets", "billing", "--topic", "nope", "--to-earliest"}, 1, `topic "nope" does not exist`},
		{[]string{"group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", "--partitions", "3"}, 1, "partitions 0 to 2, not 3"},
		{[]string{"group", "reset-offsets", "billing", "--topic", "orders"}, 2, "give one of"},
		{[]string{"group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", "--to-offset", "3"}, 2, "only one target"},
		{[]string{"group", "reset-offsets", "billing", "--topic", "orders", "--to-datetime", "noon"}, 2, "--to-datetime"},
		{[]string{"group", "describe"}, 2, "missing group id"},
	} {
		code, _, errs := c.strand("", b.args...)
		if code != b.code || !strings.Contains(errs, b.msg) {
			t.Errorf("strand %s: exit %d (want %d), stderr %q (want %q)", strings.Join(b.args, " "), code, b.code, errs, b.msg)
		}
	}

	// delete works once empty; the group is gone from describe and list.
	out = c.mustStrand("", "group", "delete", "billing")
	if !strings.Contains(out, "deleted group billing and its 3 committed offsets") {
		t.Fatalf("delete:\n%s", out)
	}
	if code, _, errs := c.strand("", "group", "describe", "billing"); code != 1 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("describe after delete: exit %d, %s", code, errs)
	}
	out = c.mustStrand("", "group", "list")
	if strings.Contains(out, "billing") || !strings.Contains(out, audit) {
		t.Fatalf("list after delete:\n%s", out)
	}
}

// TestStandaloneCoordinator: with a standalone data node and a standalone
// coordinator (no strand-meta), the group commands need --coordinator, and
// say so without it.
func TestStandaloneCoordinator(t *testing.T) {
	dataBin, coordBin := binary(t, "strand-data"), binary(t, "strand-coordinator")
	d := harness.StartStandalone(t, dataBin, 1)
	coord := harness.FreeAddr(t)
	p := harness.Start(t, "strand-coordinator", coordBin, "--id", "solo", "--listen", coord, "--standalone",
		"--data", d.Addr, "--offsets-partitions", "2", "--log-level", "warn")
	harness.WaitHealthy(t, p, coord, 60*time.Second)
	c := &cluster{t: t, meta: d.Addr, coords: []string{coord}, hc: &http.Client{Timeout: 30 * time.Second}}
	c.mustStrand("", "topic", "create", "events", "--partitions", "2")
	c.produce("events", 1, 3)

	code, _, errs := c.strand("", "group", "list")
	if code != 1 || !strings.Contains(errs, "standalone") || !strings.Contains(errs, "--coordinator") {
		t.Fatalf("group list without --coordinator: exit %d, %s", code, errs)
	}
	c.eventually(60*time.Second, "the standalone coordinator serves", func() error {
		code, _, errs := c.strand("", "group", "reset-offsets", "replay", "--topic", "events", "--to-earliest", "--coordinator", coord)
		if code != 0 {
			return errors.New(errs)
		}
		return nil
	})
	out := c.mustStrand("", "group", "describe", "replay", "-o", "json", "--coordinator", coord)
	var gd wire.GroupDescription
	if err := json.Unmarshal([]byte(out), &gd); err != nil {
		t.Fatal(err)
	}
	if got := lags(gd); gd.State != wire.GroupStateEmpty || got != "0:0/0/0 1:0/3/3" {
		t.Fatalf("describe: %s %s", gd.State, got)
	}
	out = c.mustStrand("", "group", "list", "--coordinator", coord)
	if !strings.Contains(out, "replay") {
		t.Fatalf("list:\n%s", out)
	}
	c.mustStrand("", "group", "delete", "replay", "--coordinator", coord)
}
