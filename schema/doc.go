// Package schema owns the canonical e-CO dataset: the Go types of a
// certificate of origin (Certificate and its parts), its XML codec (namespace
// urn:ecogate:eco:1, element names aligned with UN/CEFACT) and JSON codec
// (names aligned with the edi3 Certificate of Origin), the published XSD and
// JSON Schema, the code lists, the agreement profiles (RCEP, ATIGA, AANZFTA,
// AIFTA, AKFTA, ACFTA, non-preferential) and validation with graded findings.
//
// Every item of RCEP Annex 3B and every box of ATIGA Form D has a home:
//
//	RCEP (a) exporter            Consignment.Exporter
//	RCEP (b) producer            Consignment.Producers, GoodsItem.ProducerRef
//	RCEP (c) importer            Consignment.Importer
//	RCEP (d) description, HS     GoodsItem.Product.Description, .HSCode
//	RCEP (e) CO number           Header.ID
//	RCEP (f) origin criterion    GoodsItem.OriginCriteria
//	RCEP (g) exporter declaration Certificate.FirstSignatory
//	RCEP (h) certification       Certificate.SecondSignatory, Header.Issuer
//	RCEP (i) country of origin   GoodsItem.Product.OriginCountry
//	RCEP (j) consignment ids     GoodsItem.InvoiceReferences, Consignment.MainCarriage, .UnloadingPort
//	RCEP (k) FOB value           GoodsItem.FOBValue
//	RCEP (l) quantity            GoodsItem.Quantity
//	RCEP (m) back-to-back        Certificate.OriginalProofs
//	Form D reference no.         Header.ID; "issued in": Header.ExportCountry
//	Form D box 1, 2              Consignment.Exporter, Consignment.Importer
//	Form D box 3                 Consignment.MainCarriage, .UnloadingPort, .TransitCountries
//	Form D box 4                 Outcome (the importing side's decision, not in the certificate)
//	Form D box 5, 6              GoodsItem.SequenceNumber, .MarksAndNumbers
//	Form D box 7                 GoodsItem.Packages, .Product (description, HS of the importing country)
//	Form D box 8                 GoodsItem.OriginCriteria, .RVCPercent
//	Form D box 9                 GoodsItem.GrossWeight, .Quantity, .FOBValue
//	Form D box 10                GoodsItem.InvoiceReferences
//	Form D box 11                Certificate.FirstSignatory, Header.ImportCountry
//	Form D box 12                Certificate.SecondSignatory
//	Form D box 13                Header.Flags
//
// The package depends on nothing else in the module; every other package
// depends on it.
package schema
