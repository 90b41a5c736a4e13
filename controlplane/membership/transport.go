package membership

import "github.com/hashicorp/memberlist"

// transportCore is the network transport memberlist runs on; tests wrap it to
// cut a member off the network.
type transportCore = memberlist.NodeAwareTransport
