// Package assign holds the partition assignors a consumer group can use:
// range, round-robin and cooperative-sticky. An assignor is a pure function
// from the group's members, their subscriptions, the subscribed topics'
// partition counts and (for sticky assignment) the previous assignment, to a
// new assignment that gives every subscribed partition to exactly one member
// subscribed to its topic.
//
// Assignors never move partitions themselves: the group state machine
// (package group) reconciles the members from their current ownership
// towards the new assignment incrementally, revoking a partition from its old
// owner before granting it to the new one.
//
//	a, _ := assign.ByName(wire.AssignorCooperativeSticky)
//	out := a.Assign(assign.Input{
//		Members:    []assign.Member{{ID: "m1", Topics: []string{"t"}}, {ID: "m2", Topics: []string{"t"}}},
//		Partitions: map[string]int32{"t": 12},
//		Previous:   previous, // member id -> partitions of the last assignment
//	})
package assign
