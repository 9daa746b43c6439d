// Package devsite lays out development nodes on disk: for each site a
// development PKI, a partner registry naming the other sites and a node
// configuration, so that `ecogate serve --config DIR/ecogate.yaml` runs it.
// The demo (`ecogate demo`), the tests and the load tools use it. It also
// owns the commented configuration template, which `ecogate serve
// --example-config` prints filled for a real node (ExampleConfig): one
// template serves both, so the example and the sites the demo runs cannot
// drift apart. Production packages do not import it.
package devsite
