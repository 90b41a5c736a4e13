// Package deploy holds the checks of Strand's deployment files (deploy/):
// the container images' Dockerfiles, the compose cluster, the Kubernetes
// manifests and the systemd units. Its tests build the binaries, read the
// settings each one accepts from its --help, and check that every file names
// only settings, images, binaries, ports, labels, selectors and services that
// exist and agree with each other; with a Docker engine and the images built
// (scripts/images), they also check that a container started with a missing
// or contradictory setting exits at once naming it.
package deploy
