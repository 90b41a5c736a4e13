module strand.dev/e2e

go 1.26.0

require (
	strand.dev/client v0.0.0
	strand.dev/controlplane v0.0.0
	strand.dev/coordinator v0.0.0
	strand.dev/dataplane v0.0.0
)

require gopkg.in/yaml.v3 v3.0.1 // indirect

replace (
	strand.dev/client => ../client
	strand.dev/controlplane => ../controlplane
	strand.dev/coordinator => ../coordinator
	strand.dev/dataplane => ../dataplane
)
