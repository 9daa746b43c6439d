// Package mapping owns the translation between outside record formats and
// the canonical e-CO dataset (package schema):
//
//   - inbound, declarative profiles (YAML) that map a domestic or partner
//     record (JSON, CSV or XML) onto a schema.Certificate: the loader, the
//     source readers, the rule engine and its transforms;
//   - the built-in profiles (india-ecoo, edi3-coo, formd-csv), embedded;
//   - outbound, the canonical dataset written in partner formats: ToEdi3
//     (edi3 / UN/CEFACT Certificate of Origin JSON) and ToUBL (OASIS UBL 2.1
//     CertificateOfOrigin XML);
//   - the bulk import engine (ImportFiles): records read, mapped on every
//     core, judged (ImportOptions.Accept) and stored through a Sink the
//     caller provides, all or nothing per record, resumable from a
//     checkpoint file, with a failure report (one JSON object per line).
//     A Sink that finds the same content already stored says so with
//     ErrAlreadyStored (counted as skipped); the node's Sink is
//     gateway.ImportSink, driven by `ecogate import`.
//
// Validation of the mapped certificate is schema's (schema.Validate);
// storage is the Sink's (the node's store).
//
// # Profile format
//
// A profile is one YAML document. Unknown fields are refused, so a typo
// fails at load time with the rule's position and line.
//
//	name: my-platform            # the profile's name (errors, --profile)
//	description: text
//	format: json                 # json | csv | xml
//	records: data.items[*]       # json/xml: where the records are; default: the
//	                             # document is one record, a top-level array is
//	                             # a list of records, .ndjson/.jsonl files are
//	                             # one record per line. xml: a slash path from
//	                             # the root element, e.g. Applications/Application
//	key: applicationNo           # the record key (messages, import); for csv the
//	                             # column whose equal consecutive values group rows
//	                             # into one record (one row per goods item)
//	csv: {delimiter: ";"}        # csv only; default ","
//	carry_unmapped: false        # true: every source leaf no rule reads is kept
//	                             # verbatim as a carried field (see Carried)
//	rules:                       # applied in order
//	  - to: exchangedDocument.iD # target: JSON names of the schema types
//	    from: certificateNo      # source path, or a list of them
//	    required: true           # missing or empty source → mapping error
//	  - to: exchangedDocument.languageCode
//	    value: en                # a constant instead of 'from'
//	  - to: exchangedDocument.remarks
//	    from: [remark1, remark2]
//	    transforms: [{concat: {sep: "; "}}]
//	  - to: exchangedDocument.importCountry
//	    from: destination
//	    default: VN              # when the source is missing or empty
//	    when: {from: scheme, in: [AIFTA, ATIGA]}   # else the rule is skipped
//	    transforms:
//	      - trim: true
//	      - map: {table: {VIETNAM: VN, "VIET NAM": VN}, ignore_case: true}
//	  - each: products[*]        # a repeating group: one target element per match
//	    to: supplyChainConsignment.includedConsignmentItems[]
//	    rules:                   # paths relative to the element; '^.' climbs to
//	      - to: sequenceNumber   # the enclosing element, '$.' starts at the record
//	        from: $index         # (source) or the certificate (target)
//	      - to: tradeProduct
//	        from: itchsCode
//	        transforms: [{hs: {edition: HS2022}}]
//	      - to: quantity
//	        from: qty
//	        transforms: [{unit: {field: uom, table: {KGS: KGM, MT: {to: KGM, factor: 1000}}}}]
//
// Source paths (JSON, CSV and XML records are all trees): a.b[0].c; items[*].x
// for every element; '/' may separate segments like '.'; $.x from the record
// root; ^.x from the enclosing group element; $index the 1-based position of
// the group element; $key the record key. CSV records hold the first row's
// columns at the top and every row under rows[*]. XML records hold child
// elements by local name (repeated ones as lists), attributes as @name.
//
// Target paths: a.b.c; list[2].c a fixed element; list[].c appends (value i of
// the rule to new element i); a text list (originCriteria, postalAddress.lines)
// takes all values; $.x from the certificate root inside a group. Targets are
// resolved against the Go types at load time.
//
// YAML note: inside flow style ({...} or [...]) quote any path that holds
// brackets or a colon, e.g. {to: "invoiceReferences[0].iD", from: no}.
//
// Transforms, one per list item, in order; each applies to every value:
//
//	trim: true | upper: true | lower: true | digits: true (keep digits only)
//	prefix: "P" | strip_prefix: "unece.un.org:locode:"
//	replace: {old, new, regex: bool}        (regex: Go RE2, new may use $1)
//	date: {from: DD/MM/YYYY | [patterns...] | iso | Go layout, to: date|datetime, zone: "+05:30"}
//	map: {table: {domestic: canonical}, default: X, passthrough: bool, ignore_case: bool}
//	concat: {sep: " "}            (all values into one; empty ones skipped)
//	split: {sep: ",", index: N}   (N may be negative; without index: every part)
//	split: {sep: ":", last: true, part: 0|1}   (cut in two at the last separator)
//	number: {thousands: ",", decimal: ".", floor: bool}   (to a plain decimal)
//	datauri: mime | data          (parts of a data: URI; data is base64)
//	check: {matches: "^[0-9A-Z]{10}$", message: "an IEC has 10 characters"}
//
// and, last in the list, one shaping transform that fills several fields of
// the target group:
//
//	hs: {edition: HS2022, national: true}   target tradeProduct: hsCode (6 digits,
//	                                        dots removed), nationalTariffCode (the
//	                                        whole code when longer), hsEdition
//	unit: {from: KG, to: KGM, factor: 1}    target a measure: value (times factor)
//	unit: {field: uom, table: {...}}        and unitCode; the unit read from a field
//	identifier: {sep: ":"}                  target an identifier: schemeID:value
//	identifier: {scheme: gstin}             split at the last sep, or a fixed scheme
//
// # Errors
//
// A profile that does not load gives a *ProfileError naming the rule
// (rules[5].rules[2] "name" (line 48, to tradeProduct)). A record that does
// not fit gives Errors, one *MappingError per failed rule, each naming the
// record (index, key, CSV lines), the source field and the rule, with what to
// fix. A record with any error yields no certificate: all or nothing.
//
// # Version UUID
//
// When no rule sets exchangedDocument.uuid, MapRecord derives it from the
// profile name and the record's content (name-based, UUID version 5
// layout): the same record always maps to the same UUID.
//
// # Carried fields
//
// With carry_unmapped, or carry: true on a rule whose mapping loses detail
// (a date-time cut to a date), source values are kept verbatim as
// ReferencedDocuments of type ZZZ (see Carried), so nothing of the source is
// silently lost and ToEdi3 can put edi3 fields back where they were.
package mapping
