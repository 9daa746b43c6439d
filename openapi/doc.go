// Package openapi owns the published wire contract: the partner API
// (/eco/v1) and the customs API (/customs/v1) as OpenAPI 3.1 documents,
// embedded, with Handler to serve them and Contract to check an answer
// against the schema the document gives for it (JSON Schema 2020-12,
// github.com/santhosh-tekuri/jsonschema/v6). The node serves the documents
// (gateway); the conformance kit checks every answer it receives against
// them. It imports nothing of this module.
package openapi
