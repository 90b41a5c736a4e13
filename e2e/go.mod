module strand.dev/e2e

go 1.26.0

require (
	strand.dev/client v0.0.0
	strand.dev/controlplane v0.0.0
	strand.dev/coordinator v0.0.0
	strand.dev/dataplane v0.0.0
)

require (
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/urfave/cli/v2 v2.27.7 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	strand.dev/client => ../client
	strand.dev/controlplane => ../controlplane
	strand.dev/coordinator => ../coordinator
	strand.dev/dataplane => ../dataplane
)
