package metastate

import (
	"net"
	"strconv"

	"strand.dev/client/wire"
)

// Limits on what one command may carry. They bound every list and string a
// command brings into the image.
const (
	// MaxPartitionsPerTopic bounds a topic's partition count.
	MaxPartitionsPerTopic = 100_000
	// MaxReplicationFactor bounds a partition's replica count.
	MaxReplicationFactor = 64
	// MaxChangesPerCommand bounds the changes of one update_partitions (a
	// fencing may move every partition of a large cluster at once).
	MaxChangesPerCommand = 200_000
	// MaxProducerIDBlock bounds the producer ids one allocation hands out.
	MaxProducerIDBlock = 10_000
	// MaxOffsetsPartitions bounds the __consumer_offsets partition numbers
	// an ownership command may name (0 to MaxOffsetsPartitions-1).
	MaxOffsetsPartitions = 100_000
	// MaxLeaseMs bounds a controller lease's duration (ten minutes).
	MaxLeaseMs = 600_000
	// MaxStringLen bounds names, addresses, racks, holders and config keys.
	MaxStringLen = 255
	// MaxConfigValueLen bounds one config value.
	MaxConfigValueLen = 4096
	// MaxConfigs bounds the configs of one topic or one alteration.
	MaxConfigs = 64
	// MaxTopicIDLen bounds a topic id given in create_topic.
	MaxTopicIDLen = 64
)

// Validate checks a command without looking at the image: its type is known,
// exactly the body its type names is set, and every value is possible (names,
// counts, ids and lengths within bounds). It is cheap and safe to call from
// any goroutine; strand-meta calls it before proposing so that an impossible
// command never reaches the log. Apply checks everything again, except the
// values of the topic configs a command sets: Validate checks them against
// the shared table (topicconfig) that the data nodes apply them with, Apply
// only their names and sizes, so that log entries written by an older
// version apply the same way (see ValidateTopicConfigs).
//
// The error is a *wire.Error: UNKNOWN_COMMAND, INVALID_REQUEST,
// INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR or
// INVALID_CONFIG.
func (m *Machine) Validate(cmd *wire.Command) error {
	if err := validate(cmd); err != nil {
		return err
	}
	return validateProposedConfigs(cmd)
}

// validate is Validate without the receiver.
func validate(cmd *wire.Command) error {
	if cmd == nil {
		return wire.Errorf(wire.CodeInvalidRequest, "no command")
	}
	if err := checkBody(cmd); err != nil {
		return err
	}
	switch cmd.Type {
	case wire.CmdNoop:
		return nil
	case wire.CmdRegisterNode:
		return validateRegisterNode(cmd.RegisterNode)
	case wire.CmdSetNodeFenced:
		return checkNodeID(cmd.SetNodeFenced.NodeID)
	case wire.CmdUnregisterNode:
		return checkNodeID(cmd.UnregisterNode.NodeID)
	case wire.CmdAcquireLease:
		return validateAcquireLease(cmd.AcquireLease)
	case wire.CmdReleaseLease:
		return checkString("holder", cmd.ReleaseLease.Holder, true)
	case wire.CmdCreateTopic:
		return validateCreateTopic(cmd.CreateTopic)
	case wire.CmdDeleteTopic:
		return wire.ValidateTopicName(cmd.DeleteTopic.Name)
	case wire.CmdAlterTopicConfigs:
		return validateAlterTopicConfigs(cmd.AlterTopicConfigs)
	case wire.CmdUpdatePartitions:
		return validateUpdatePartitions(cmd.UpdatePartitions)
	case wire.CmdAlterISR:
		return validateAlterISR(cmd.AlterISR)
	case wire.CmdClaimOffsetsOwner:
		return validateClaimOffsetsOwner(cmd.ClaimOffsetsOwner)
	case wire.CmdReleaseOffsetsOwner:
		c := cmd.ReleaseOffsetsOwner
		if err := checkOffsetsPartition(c.Partition); err != nil {
			return err
		}
		if c.Epoch < 1 {
			return wire.Errorf(wire.CodeInvalidRequest, "ownership epoch %d is impossible: a held ownership has epoch 1 or more", c.Epoch)
		}
		return checkString("coordinator", c.Coordinator, true)
	case wire.CmdAllocateProducerIDs:
		if n := cmd.AllocateProducerIDs.Count; n < 1 || n > MaxProducerIDBlock {
			return wire.Errorf(wire.CodeInvalidRequest, "producer id block of %d ids: the count must be 1 to %d", n, MaxProducerIDBlock)
		}
		return nil
	}
	return wire.Errorf(wire.CodeUnknownCommand, "unknown command type %q", cmd.Type)
}

// checkBody makes sure exactly the body named by Type is set.
func checkBody(cmd *wire.Command) error {
	bodies := []struct {
		t   wire.CommandType
		set bool
	}{
		{wire.CmdRegisterNode, cmd.RegisterNode != nil},
		{wire.CmdSetNodeFenced, cmd.SetNodeFenced != nil},
		{wire.CmdAcquireLease, cmd.AcquireLease != nil},
		{wire.CmdReleaseLease, cmd.ReleaseLease != nil},
		{wire.CmdCreateTopic, cmd.CreateTopic != nil},
		{wire.CmdDeleteTopic, cmd.DeleteTopic != nil},
		{wire.CmdAlterTopicConfigs, cmd.AlterTopicConfigs != nil},
		{wire.CmdUpdatePartitions, cmd.UpdatePartitions != nil},
		{wire.CmdAlterISR, cmd.AlterISR != nil},
		{wire.CmdClaimOffsetsOwner, cmd.ClaimOffsetsOwner != nil},
		{wire.CmdReleaseOffsetsOwner, cmd.ReleaseOffsetsOwner != nil},
		{wire.CmdAllocateProducerIDs, cmd.AllocateProducerIDs != nil},
		{wire.CmdUnregisterNode, cmd.UnregisterNode != nil},
	}
	known := cmd.Type == wire.CmdNoop
	for _, body := range bodies {
		if body.t == cmd.Type {
			known = true
			if !body.set {
				return wire.Errorf(wire.CodeInvalidRequest, "command %q has no %q body", cmd.Type, cmd.Type)
			}
		} else if body.set {
			return wire.Errorf(wire.CodeInvalidRequest, "command %q carries a %q body", cmd.Type, body.t)
		}
	}
	if !known {
		return wire.Errorf(wire.CodeUnknownCommand, "unknown command type %q", cmd.Type)
	}
	return nil
}

func checkNodeID(id int32) error {
	if id < 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "node id %d is negative", id)
	}
	return nil
}

// checkString bounds a string field; required ones must be non-empty.
func checkString(field, s string, required bool) error {
	if required && s == "" {
		return wire.Errorf(wire.CodeInvalidRequest, "%s is empty", field)
	}
	if len(s) > MaxStringLen {
		return wire.Errorf(wire.CodeInvalidRequest, "%s is %d bytes long, the limit is %d", field, len(s), MaxStringLen)
	}
	return nil
}

// checkAddr requires host:port with a numeric port.
func checkAddr(field, addr string, required bool) error {
	if err := checkString(field, addr, required); err != nil || addr == "" {
		return err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return wire.Errorf(wire.CodeInvalidRequest, "%s %q is not host:port: %v", field, addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "%s %q has an invalid port", field, addr)
	}
	return nil
}

func validateRegisterNode(c *wire.RegisterNodeCmd) error {
	n := &c.Node
	if err := checkNodeID(n.ID); err != nil {
		return err
	}
	if err := checkAddr("node addr", n.Addr, true); err != nil {
		return err
	}
	if err := checkAddr("node gossip_addr", n.GossipAddr, false); err != nil {
		return err
	}
	if err := checkString("node rack", n.Rack, false); err != nil {
		return err
	}
	if n.Incarnation < 1 {
		return wire.Errorf(wire.CodeInvalidRequest, "node incarnation %d must be positive", n.Incarnation)
	}
	return nil
}

func validateAcquireLease(c *wire.AcquireLeaseCmd) error {
	if err := checkString("lease holder", c.Holder, true); err != nil {
		return err
	}
	if err := checkAddr("lease addr", c.Addr, false); err != nil {
		return err
	}
	if c.Epoch < 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "controller epoch %d is negative", c.Epoch)
	}
	if c.LeaseMs < 1 || c.LeaseMs > MaxLeaseMs {
		return wire.Errorf(wire.CodeInvalidRequest, "lease of %d ms: it must be 1 to %d ms", c.LeaseMs, MaxLeaseMs)
	}
	return nil
}

// checkReplicas: 1 to MaxReplicationFactor distinct non-negative node ids.
func checkReplicas(what string, replicas []int32) error {
	if len(replicas) == 0 {
		return wire.Errorf(wire.CodeInvalidReplicationFactor, "%s has no replicas: the replication factor must be at least 1", what)
	}
	if len(replicas) > MaxReplicationFactor {
		return wire.Errorf(wire.CodeInvalidReplicationFactor, "%s has %d replicas, the limit is %d", what, len(replicas), MaxReplicationFactor)
	}
	return checkNodeList(what+" replicas", replicas)
}

// checkNodeList: distinct non-negative node ids, at most MaxReplicationFactor.
func checkNodeList(what string, ids []int32) error {
	if len(ids) > MaxReplicationFactor {
		return wire.Errorf(wire.CodeInvalidRequest, "%s lists %d nodes, the limit is %d", what, len(ids), MaxReplicationFactor)
	}
	for i, id := range ids {
		if id < 0 {
			return wire.Errorf(wire.CodeInvalidRequest, "%s lists the negative node id %d", what, id)
		}
		for _, prev := range ids[:i] {
			if prev == id {
				return wire.Errorf(wire.CodeInvalidRequest, "%s lists node %d twice", what, id)
			}
		}
	}
	return nil
}

func validateCreateTopic(c *wire.CreateTopicCmd) error {
	if c.ControllerEpoch < 1 {
		return staleEpoch(c.ControllerEpoch)
	}
	t := &c.Topic
	if err := wire.ValidateTopicName(t.Name); err != nil {
		return err
	}
	if err := checkTopicID(t.ID); err != nil {
		return err
	}
	n := len(t.Partitions)
	if n == 0 || n > MaxPartitionsPerTopic {
		return wire.Errorf(wire.CodeInvalidPartitions, "topic %q has %d partitions: it must have 1 to %d", t.Name, n, MaxPartitionsPerTopic)
	}
	for i, p := range t.Partitions {
		if p == nil {
			return wire.Errorf(wire.CodeInvalidPartitions, "topic %q: partition %d is null", t.Name, i)
		}
		if p.Partition != int32(i) {
			return wire.Errorf(wire.CodeInvalidPartitions, "topic %q: partition at position %d is numbered %d; partitions must be numbered 0 to %d in order", t.Name, i, p.Partition, n-1)
		}
		if err := checkReplicas("partition "+t.Name+"-"+strconv.Itoa(i), p.Replicas); err != nil {
			return err
		}
	}
	return validateConfigs(t.Configs)
}

// checkTopicID: empty (derived at apply) or up to MaxTopicIDLen of
// [A-Za-z0-9_-].
func checkTopicID(id string) error {
	if len(id) > MaxTopicIDLen {
		return wire.Errorf(wire.CodeInvalidRequest, "topic id is %d bytes long, the limit is %d", len(id), MaxTopicIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return wire.Errorf(wire.CodeInvalidRequest, "topic id %q has the character %q; only [A-Za-z0-9_-] are allowed", id, c)
		}
	}
	return nil
}

func validateAlterTopicConfigs(c *wire.AlterTopicConfigsCmd) error {
	if c.ControllerEpoch < 1 {
		return staleEpoch(c.ControllerEpoch)
	}
	if err := wire.ValidateTopicName(c.Name); err != nil {
		return err
	}
	if len(c.Set) == 0 && len(c.Delete) == 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "alter_topic_configs of %q sets and deletes nothing", c.Name)
	}
	if len(c.Delete) > MaxConfigs {
		return wire.Errorf(wire.CodeInvalidConfig, "%d configs to delete, the limit is %d", len(c.Delete), MaxConfigs)
	}
	if err := validateConfigs(c.Set); err != nil {
		return err
	}
	for _, k := range c.Delete {
		if err := checkConfigName(k); err != nil {
			return err
		}
		if _, ok := c.Set[k]; ok {
			return wire.Errorf(wire.CodeInvalidConfig, "config %q is both set and deleted", k)
		}
	}
	return nil
}

func validateUpdatePartitions(c *wire.UpdatePartitionsCmd) error {
	if c.ControllerEpoch < 1 {
		return staleEpoch(c.ControllerEpoch)
	}
	if len(c.Changes) == 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "update_partitions carries no change")
	}
	if len(c.Changes) > MaxChangesPerCommand {
		return wire.Errorf(wire.CodeInvalidRequest, "update_partitions carries %d changes, the limit is %d", len(c.Changes), MaxChangesPerCommand)
	}
	for i := range c.Changes {
		ch := &c.Changes[i]
		if err := wire.ValidateTopicName(ch.Topic); err != nil {
			return err
		}
		what := "change " + strconv.Itoa(i) + " (" + ch.Topic + "-" + strconv.Itoa(int(ch.Partition)) + ")"
		if ch.Partition < 0 {
			return wire.Errorf(wire.CodeInvalidRequest, "%s: negative partition", what)
		}
		if ch.Leader < -1 {
			return wire.Errorf(wire.CodeInvalidRequest, "%s: leader %d (use -1 for none)", what, ch.Leader)
		}
		if ch.Replicas != nil {
			if err := checkReplicas(what, ch.Replicas); err != nil {
				return err
			}
		}
		if err := checkNodeList(what+" isr", ch.ISR); err != nil {
			return err
		}
	}
	return nil
}

func validateAlterISR(c *wire.AlterISRCmd) error {
	if err := wire.ValidateTopicName(c.Topic); err != nil {
		return err
	}
	if c.Partition < 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "alter_isr of %s: negative partition %d", c.Topic, c.Partition)
	}
	if err := checkNodeID(c.LeaderID); err != nil {
		return err
	}
	if err := checkNodeList("alter_isr isr", c.ISR); err != nil {
		return err
	}
	if !contains(c.ISR, c.LeaderID) {
		return wire.Errorf(wire.CodeInvalidRequest, "alter_isr of %s-%d: the new isr %v does not contain the leader %d", c.Topic, c.Partition, c.ISR, c.LeaderID)
	}
	return nil
}

func validateClaimOffsetsOwner(c *wire.ClaimOffsetsOwnerCmd) error {
	if err := checkOffsetsPartition(c.Partition); err != nil {
		return err
	}
	if err := checkString("coordinator", c.Coordinator, true); err != nil {
		return err
	}
	if err := checkAddr("coordinator addr", c.Addr, true); err != nil {
		return err
	}
	if c.ExpectedEpoch < 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "expected ownership epoch %d is negative", c.ExpectedEpoch)
	}
	return nil
}

func checkOffsetsPartition(p int32) error {
	if p < 0 || p >= MaxOffsetsPartitions {
		return wire.Errorf(wire.CodeInvalidRequest, "offsets partition %d: it must be 0 to %d", p, MaxOffsetsPartitions-1)
	}
	return nil
}

func contains(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
