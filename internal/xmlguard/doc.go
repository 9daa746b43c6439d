// Package xmlguard is the streaming gate in front of every parse of an XML
// document that comes from outside (certs.ParseStrict, the schema codec,
// the mapping readers). Check reads the document once, token by token, and
// refuses it at the first limit it crosses, before reading the rest; every
// check costs O(1) per token, attribute or declaration, so that any
// document under the size cap is accepted or refused in linear time.
//
// # Limits
//
// The zero Limits means the defaults, all documented here:
//
//	MaxBytes            4 MiB      the size cap (the caller's; Check refuses above it)
//	MaxDepth            64         element nesting (the root is depth 1)
//	MaxAttrsPerElement  256        attributes on one element, namespace declarations included
//	MaxNSPerElement     64         namespace declarations (xmlns, xmlns:p) on one element
//	MaxAttrs            MaxBytes/16     attributes in the whole document (262144 for 4 MiB)
//	MaxNSDecls          MaxBytes/4096   namespace declarations in the whole document (1024 for 4 MiB, at least 64)
//
// A refusal is an *Error whose Reason is one of the stable codes below and
// whose Detail names the limit or the fault:
//
//	xml.too-large          more than MaxBytes
//	xml.too-deep           deeper than MaxDepth
//	xml.too-many-attrs     more than MaxAttrsPerElement on one element, or MaxAttrs in all
//	xml.too-many-ns        more than MaxNSPerElement on one element, or MaxNSDecls in all
//	xml.doctype            a DOCTYPE or other <!...> directive
//	xml.syntax             not well-formed, text outside the root, not one root element
//
// and, with Strict (the profile of certs.ParseStrict, design.md section 6):
//
//	xml.proc-inst          a processing instruction other than the XML declaration
//	xml.encoding           an encoding other than UTF-8
//	xml.duplicate-attr     an attribute given twice on one element
//	xml.bad-name           a malformed name or namespace (un)declaration
//	xml.undeclared-prefix  a prefix used but not declared
//
// With Strict, Check and ParseTree run this package's own tokenizer (see
// ParseTree), which also builds the etree tree in the same pass; without
// it, Check reads the tokens of encoding/xml (the schema codec and the
// mapping readers, which parse again afterwards).
//
// A leading UTF-8 byte-order mark is allowed by XML; TrimBOM removes it
// before the parse (the encoding/xml tokenizer would see it as text).
package xmlguard
