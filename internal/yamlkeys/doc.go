// Package yamlkeys turns the errors of strict YAML decoding (yaml.v3 with
// KnownFields) into messages for people: an unknown key is named with its
// line, where it sits (node.listen, partners[2].tls) and the keys allowed
// there, instead of a dump of the Go struct type.
package yamlkeys
