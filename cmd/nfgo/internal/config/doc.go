// Package config reads nfgo.yaml, the config of one nfgo router: its
// ports, static routes and neighbors, ruleset file, conntrack settings,
// control socket, metrics and logging. Every error names the file, line
// and field. Reading a config opens nothing; AddRoutes installs the
// routes and neighbors it lists on an engine, for the router and for
// nfgo replay.
package config
