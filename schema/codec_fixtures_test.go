package schema

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The golden fixtures under testdata/valid are written from these values
// (go test ./schema -run TestFixturesUpToDate -update) and committed; the
// other tests read the XML files, never these values.

func mustDT(s string) DateTime {
	t, err := ParseDateTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustD(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func loc(id, name string) *Location { return &Location{ID: id, Name: name} }

func meas(v, unit string) Measure { return Measure{Value: Decimal(v), UnitCode: unit} }

func pmeas(v, unit string) *Measure { m := meas(v, unit); return &m }

func amt(v, cur string) *Amount { return &Amount{Value: Decimal(v), Currency: cur} }

// fixtureCertificates returns one complete certificate per profile. Across
// them every optional field of the dataset is used at least once.
func fixtureCertificates() map[string]*Certificate {
	return map[string]*Certificate{
		"rcep":    fixtureRCEP(),
		"atiga":   fixtureATIGA(),
		"aanzfta": fixtureAANZFTA(),
		"aifta":   fixtureAIFTA(),
		"akfta":   fixtureAKFTA(),
		"acfta":   fixtureACFTA(),
		"nonpref": fixtureNonPref(),
	}
}

// fixtureRCEP: a back-to-back Form RCEP issued in Viet Nam for goods of
// Thai origin re-exported to Japan (RCEP Article 3.19, Annex 3B (m)).
func fixtureRCEP() *Certificate {
	return &Certificate{
		Header: Header{
			ID:             "VN-RCEP-26-17-004127",
			UUID:           "3f6c2a1e-8b4d-4f0a-9c1e-7d2b5a6e8f01",
			Version:        1,
			TypeCode:       "864",
			FunctionCode:   "9",
			Name:           "Form RCEP",
			Agreement:      "RCEP",
			IsPreferential: true,
			IssueDateTime:  mustDT("2026-03-02T09:15:00+07:00"),
			IssueLocation:  loc("VNSGN", "Ho Chi Minh City"),
			ExportCountry:  "VN",
			ImportCountry:  "JP",
			LanguageCode:   "en",
			Status:         "70",
			ValidUntil:     mustD("2027-03-02"),
			Remarks:        "Back-to-back Certificate of Origin issued on the basis of Form RCEP TH-RCEP-2026-0100345 of 10 February 2026 (item 1) and the approved exporter's declaration of origin TH-DOO-2026-AE0219-0077 of 12 February 2026 (item 2).",
			Flags:          &Flags{BackToBack: true},
			Issuer: Party{
				IDs:  []Identifier{{Value: "VN-MOIT-IEMO17", SchemeID: "rcep.issuing-body"}},
				Name: "Ministry of Industry and Trade, Regional Import-Export Management Office No. 17",
				Address: &Address{
					Lines:    []string{"12 Vo Van Kiet Street", "Nguyen Thai Binh Ward, District 1"},
					CityName: "Ho Chi Minh City", Postcode: "700000", CountryCode: "VN",
				},
			},
		},
		Consignment: Consignment{
			ID:          &Identifier{Value: "ONEYSGNF04127300", SchemeID: "bill-of-lading"},
			Information: "Reefer cargo, keep at -18 C",
			Exporter: Party{
				IDs:  []Identifier{{Value: "0312345678", SchemeID: "vn.mst"}},
				Name: "Saigon Agro Trading Co., Ltd.",
				Address: &Address{
					Lines:    []string{"45 Nguyen Huu Tho Street", "Tan Hung Ward, District 7"},
					CityName: "Ho Chi Minh City", Postcode: "756000", CountryCode: "VN",
				},
				Contact: &Contact{PersonName: "Nguyen Thi Lan", Phone: "+84 28 3775 1200", Email: "export@saigonagro.com.vn"},
			},
			Importer: Party{
				Name: "Kanto Fresh Foods K.K.",
				Address: &Address{
					Lines:    []string{"3-8-1 Toyosu"},
					CityName: "Koto-ku", Postcode: "135-0061", CountrySubDivisionName: "Tokyo", CountryCode: "JP",
				},
			},
			Producers: []Party{{
				Ref:  "P1",
				Name: "Chanthaburi Fruit Processing Co., Ltd.",
				Address: &Address{
					Lines:    []string{"88 Moo 4, Tha Chang Sub-district"},
					CityName: "Mueang Chanthaburi", Postcode: "22000", CountrySubDivisionName: "Chanthaburi", CountryCode: "TH",
				},
			}},
			MainCarriage: &TransportMovement{
				ModeCode:           "1",
				DepartureDate:      mustD("2026-03-05"),
				JourneyID:          "2609N",
				UsedTransportMeans: &TransportMeans{ID: "9321483", Name: "ONE HARMONY"},
			},
			LoadingPort:   loc("VNCLI", "Cat Lai, Ho Chi Minh City"),
			UnloadingPort: loc("JPTYO", "Tokyo"),
			Equipment:     []TransportEquipment{{ID: "ONEU5123406", SealIDs: []string{"VN2026118842", "CUS-0457781"}}},
			Items: []GoodsItem{
				{
					SequenceNumber:  1,
					MarksAndNumbers: "KFF/TYO/1-600",
					Packages:        []Packaging{{Quantity: "600", TypeCode: "CT", Marks: "KFF TOKYO"}},
					Product: TradeProduct{
						IDs:                []Identifier{{Value: "08850123456781", SchemeID: "gtin"}},
						Description:        "Frozen mangosteen pulp, unsweetened, 1 kg pouches, brand Golden Siam",
						HSCode:             "081190",
						HSEdition:          "HS2022",
						NationalTariffCode: "08119000",
						OriginCountry:      "TH",
					},
					OriginCriteria:    []string{"RVC"},
					RVCPercent:        "46",
					Quantity:          meas("6000", "KGM"),
					GrossWeight:       pmeas("6420", "KGM"),
					FOBValue:          amt("27600.00", "USD"),
					InvoiceReferences: []InvoiceReference{{ID: "SAT-INV-2026-0311", IssueDate: mustD("2026-02-27")}},
					ProducerRef:       "P1",
				},
				{
					SequenceNumber: 2,
					Packages:       []Packaging{{Quantity: "240", TypeCode: "CT"}},
					Product: TradeProduct{
						Description:   "Fresh mangosteens, grade A, 10 kg cartons",
						HSCode:        "080450",
						HSEdition:     "HS2022",
						OriginCountry: "TH",
					},
					OriginCriteria:    []string{"WO"},
					Quantity:          meas("2400", "KGM"),
					GrossWeight:       pmeas("2650", "KGM"),
					FOBValue:          amt("9120.00", "USD"),
					InvoiceReferences: []InvoiceReference{{ID: "SAT-INV-2026-0311", IssueDate: mustD("2026-02-27")}},
				},
			},
		},
		OriginalProofs: []OriginalProof{{
			Number:              "TH-RCEP-2026-0100345",
			IssueDate:           mustD("2026-02-10"),
			IssuingCountry:      "TH",
			RCEPCountryOfOrigin: "TH",
			IsElectronic:        true,
		}, {
			Number:               "TH-DOO-2026-AE0219-0077",
			IssueDate:            mustD("2026-02-12"),
			IssuingCountry:       "TH",
			RCEPCountryOfOrigin:  "TH",
			ApprovedExporterCode: "TH-RCEP-AE-0219",
		}},
		FirstSignatory: Authentication{
			ActualDateTime: mustDT("2026-03-01T16:40:00+07:00"),
			Statement:      "The undersigned hereby declares that the above details and statement are correct, that all the goods were produced in Thailand and that they comply with the origin requirements specified in the Regional Comprehensive Economic Partnership Agreement for the goods exported to Japan.",
			Signatory:      Signatory{Name: "Nguyen Thi Lan", Position: "Export Manager"},
			Place:          loc("VNSGN", "Ho Chi Minh City"),
		},
		SecondSignatory: &Authentication{
			ActualDateTime: mustDT("2026-03-02T09:15:00+07:00"),
			Statement:      "It is hereby certified, on the basis of control carried out, that the declaration by the exporter is correct.",
			Signatory:      Signatory{Name: "Tran Van Minh", Position: "Deputy Head of Office"},
			Place:          loc("VNSGN", "Ho Chi Minh City"),
			SealImageRef:   "seal-iemo17.png",
		},
		Verification: &Verification{
			URL:       "https://ecosys.gov.vn/verify/VN-RCEP-26-17-004127",
			QRPayload: "ECO1|VN|VN-RCEP-26-17-004127|1|3f6c2a1e-8b4d-4f0a-9c1e-7d2b5a6e8f01",
		},
		References: []ReferencedDocument{{
			TypeCode: "380", RelationshipTypeCode: "AAI", ID: "SAT-INV-2026-0311", IssueDate: mustD("2026-02-27"),
			Information: "Commercial invoice",
		}},
	}
}

// fixtureATIGA: ATIGA Form D from Thailand to Indonesia, invoiced by a
// trading house in Singapore, shipped via Singapore.
func fixtureATIGA() *Certificate {
	return &Certificate{
		Header: Header{
			ID:             "TH-D-2026-BKK-0081934",
			UUID:           "a1d0c4e2-57b9-4c83-b1f6-0e9a3d2c7b45",
			Version:        1,
			TypeCode:       "864",
			FunctionCode:   "9",
			Name:           "Form D",
			Agreement:      "ATIGA",
			IsPreferential: true,
			IssueDateTime:  mustDT("2026-04-08T10:30:00+07:00"),
			IssueLocation:  loc("THBKK", "Bangkok"),
			ExportCountry:  "TH",
			ImportCountry:  "ID",
			LanguageCode:   "en",
			Status:         "70",
			ValidUntil:     mustD("2027-04-08"),
			Remarks:        "Third-country invoice issued by Lion City Trading Pte. Ltd., Singapore.",
			Flags:          &Flags{ThirdPartyInvoicing: true, Accumulation: true, DeMinimis: true, PartialCumulation: true},
			Issuer: Party{
				IDs:  []Identifier{{Value: "TH-DFT", SchemeID: "atiga.issuing-authority"}},
				Name: "Department of Foreign Trade, Ministry of Commerce",
				Address: &Address{
					Lines:    []string{"563 Nonthaburi Road", "Bang Krasor"},
					CityName: "Mueang Nonthaburi", Postcode: "11000", CountrySubDivisionName: "Nonthaburi", CountryCode: "TH",
				},
			},
			ApprovedExporterCode: "TH-AE-0457",
		},
		Consignment: Consignment{
			ID: &Identifier{Value: "MAEU240418773"},
			Exporter: Party{
				IDs:  []Identifier{{Value: "0105558123456", SchemeID: "th.tin"}},
				Name: "Siam Precision Components Public Company Limited",
				Address: &Address{
					Lines:    []string{"700/123 Moo 5, Amata City Chonburi Industrial Estate", "Bang Na Sub-district"},
					CityName: "Mueang Chonburi", Postcode: "20000", CountrySubDivisionName: "Chonburi", CountryCode: "TH",
				},
				Contact: &Contact{PersonName: "Somchai Wongsawat", Email: "origin@siamprecision.co.th"},
			},
			Importer: Party{
				Name: "PT Nusantara Elektronik Indonesia",
				Address: &Address{
					Lines:    []string{"Kawasan Industri Jababeka II, Jl. Industri Selatan 5 Blok PP No. 7"},
					CityName: "Cikarang", Postcode: "17530", CountrySubDivisionName: "Jawa Barat", CountryCode: "ID",
				},
			},
			Producers: []Party{{
				Ref:  "M1",
				Name: "Siam Precision Components Public Company Limited, Amata City plant",
			}},
			ThirdPartyInvoicer: &Party{
				Name: "Lion City Trading Pte. Ltd.",
				Address: &Address{
					Lines:    []string{"1 Raffles Place, #20-61 One Raffles Place Tower 2"},
					CityName: "Singapore", Postcode: "048616", CountryCode: "SG",
				},
			},
			MainCarriage: &TransportMovement{
				ModeCode:           "1",
				DepartureDate:      mustD("2026-04-10"),
				JourneyID:          "415S",
				UsedTransportMeans: &TransportMeans{ID: "9778844", Name: "MAERSK SERANGOON"},
			},
			LoadingPort:      loc("THLCH", "Laem Chabang"),
			UnloadingPort:    loc("IDTPP", "Tanjung Priok, Jakarta"),
			TransitCountries: []string{"SG"},
			Equipment:        []TransportEquipment{{ID: "MSKU7082214", SealIDs: []string{"ML-TH-5583021"}}},
			Items: []GoodsItem{
				{
					SequenceNumber:  1,
					MarksAndNumbers: "NEI/JKT/PO-88213/1-40",
					Packages:        []Packaging{{Quantity: "40", TypeCode: "PX"}},
					Product: TradeProduct{
						Description:        "2.5-inch SATA hard disk drives, 1 TB, manufactured by Siam Precision Components, trademark SPC",
						HSCode:             "847170",
						HSEdition:          "HS2022",
						NationalTariffCode: "84717020",
					},
					OriginCriteria:    []string{"RVC", "CTH"},
					RVCPercent:        "52",
					Quantity:          meas("12000", "H87"),
					GrossWeight:       pmeas("2180", "KGM"),
					FOBValue:          amt("486000.00", "USD"),
					InvoiceReferences: []InvoiceReference{{ID: "LCT-2026-04-0193", IssueDate: mustD("2026-04-07"), Issuer: "Lion City Trading Pte. Ltd."}},
					ProducerRef:       "M1",
				},
				{
					SequenceNumber: 2,
					Packages:       []Packaging{{Quantity: "12", TypeCode: "PX"}},
					Product: TradeProduct{
						Description:        "Printed circuit board assemblies for hard disk drives, trademark SPC",
						HSCode:             "847330",
						HSEdition:          "HS2022",
						NationalTariffCode: "84733090",
					},
					OriginCriteria:    []string{"PC"},
					RVCPercent:        "27",
					Quantity:          meas("30000", "H87"),
					GrossWeight:       pmeas("640", "KGM"),
					FOBValue:          amt("94500.00", "USD"),
					InvoiceReferences: []InvoiceReference{{ID: "LCT-2026-04-0193", IssueDate: mustD("2026-04-07"), Issuer: "Lion City Trading Pte. Ltd."}},
					ProducerRef:       "M1",
				},
			},
		},
		FirstSignatory: Authentication{
			ActualDateTime: mustDT("2026-04-07T15:00:00+07:00"),
			Statement:      "The undersigned hereby declares that the above details and statement are correct; that all the goods were produced in Thailand and that they comply with the origin requirements specified for these goods in the ASEAN Trade in Goods Agreement for the goods exported to Indonesia.",
			Signatory:      Signatory{Name: "Somchai Wongsawat", Position: "Trade Compliance Director"},
			Place:          loc("THBKK", "Bangkok"),
		},
		SecondSignatory: &Authentication{
			ActualDateTime: mustDT("2026-04-08T10:30:00+07:00"),
			Statement:      "It is hereby certified, on the basis of control carried out, that the declaration by the exporter is correct.",
			Signatory:      Signatory{Name: "Pimchanok Srisuk", Position: "Senior Trade Officer"},
			Place:          loc("THBKK", "Bangkok"),
		},
		References: []ReferencedDocument{
			{TypeCode: "380", ID: "LCT-2026-04-0193", IssueDate: mustD("2026-04-07"), Information: "Third-country commercial invoice"},
			{TypeCode: "271", ID: "SPC-PL-26-0412", Information: "Packing list",
				Attachment: &Attachment{Filename: "packing-list.csv", MIMECode: "text/csv", Content: []byte("item,cartons,kg\n1,40,2180\n2,12,640\n")}},
		},
	}
}

// fixtureAANZFTA: Australian wine to Viet Nam, with the rendered PDF.
func fixtureAANZFTA() *Certificate {
	pdf := []byte("%PDF-1.7\n% rendered copy of the certificate, for display only\n%%EOF\n")
	return &Certificate{
		Header: Header{
			ID:             "AU-AANZ-2026-WFA-118204",
			UUID:           "c7e2f9a4-1b3d-4e5f-8a7b-9c0d1e2f3a4b",
			Version:        1,
			TypeCode:       "864",
			FunctionCode:   "9",
			Name:           "AANZFTA Certificate of Origin",
			Agreement:      "AANZFTA",
			IsPreferential: true,
			IssueDateTime:  mustDT("2026-05-12T11:05:00+09:30"),
			IssueLocation:  loc("AUADL", "Adelaide"),
			ExportCountry:  "AU",
			ImportCountry:  "VN",
			LanguageCode:   "en",
			Status:         "70",
			ValidUntil:     mustD("2027-05-12"),
			Issuer: Party{
				IDs:  []Identifier{{Value: "55004094599", SchemeID: "abn"}},
				Name: "Australian Grape and Wine Incorporated",
				Address: &Address{
					Lines:    []string{"Industry Offices, Botanic Road"},
					CityName: "Adelaide", Postcode: "5000", CountrySubDivisionName: "SA", CountryCode: "AU",
				},
				Contact: &Contact{Phone: "+61 8 8133 4300", Email: "coo@agw.org.au"},
			},
		},
		Consignment: Consignment{
			ID: &Identifier{Value: "HLCUADL260412345", SchemeID: "bill-of-lading"},
			Exporter: Party{
				IDs:  []Identifier{{Value: "38007563197", SchemeID: "abn"}},
				Name: "Barossa Ridge Wines Pty Ltd",
				Address: &Address{
					Lines:    []string{"24 Murray Street"},
					CityName: "Tanunda", Postcode: "5352", CountrySubDivisionName: "SA", CountryCode: "AU",
				},
				Contact: &Contact{PersonName: "Emma Kowalski", Phone: "+61 8 8563 2100", Email: "exports@barossaridge.com.au"},
			},
			Importer: Party{
				Name: "Saigon Fine Wines Joint Stock Company",
				Address: &Address{
					Lines:    []string{"102 Hai Ba Trung Street", "Da Kao Ward, District 1"},
					CityName: "Ho Chi Minh City", CountryCode: "VN",
				},
			},
			MainCarriage: &TransportMovement{
				ModeCode:           "1",
				DepartureDate:      mustD("2026-05-14"),
				UsedTransportMeans: &TransportMeans{Name: "SANTOS EXPRESS"},
			},
			LoadingPort:   loc("AUADL", "Adelaide"),
			UnloadingPort: loc("VNSGN", "Ho Chi Minh City"),
			Items: []GoodsItem{{
				SequenceNumber: 1,
				Packages:       []Packaging{{Quantity: "1100", TypeCode: "CS", Marks: "SFW HCMC"}},
				Product: TradeProduct{
					Description: "Red wine, Barossa Valley Shiraz 2023, 13.5% vol, 12 x 750 ml bottles per case",
					HSCode:      "220421",
					HSEdition:   "HS2022",
				},
				OriginCriteria:    []string{"CTC"},
				Quantity:          meas("9900", "LTR"),
				GrossWeight:       pmeas("17600", "KGM"),
				InvoiceReferences: []InvoiceReference{{ID: "BRW-EX-26-0087", IssueDate: mustD("2026-05-08")}},
			}},
		},
		FirstSignatory: Authentication{
			ActualDateTime: mustDT("2026-05-11T14:20:00+09:30"),
			Statement:      "The undersigned hereby declares that the above details and statements are correct and that the goods covered in this Certificate comply with the requirements specified for these goods in AANZFTA.",
			Signatory:      Signatory{Name: "Emma Kowalski", Position: "Export Manager"},
		},
		SecondSignatory: &Authentication{
			ActualDateTime: mustDT("2026-05-12T11:05:00+09:30"),
			Statement:      "On the basis of control carried out, it is hereby certified that the information herein is correct and that the goods described comply with the origin requirements specified in AANZFTA.",
			Signatory:      Signatory{Name: "Daniel O'Brien", Position: "Certificate of Origin Officer"},
			Place:          loc("AUADL", "Adelaide"),
		},
		Verification: &Verification{URL: "https://www.agw.org.au/coo/verify/AU-AANZ-2026-WFA-118204"},
		AttachedFile: &Attachment{
			Filename: "AU-AANZ-2026-WFA-118204.pdf",
			URI:      "https://www.agw.org.au/coo/pdf/AU-AANZ-2026-WFA-118204.pdf",
			MIMECode: "application/pdf",
			Size:     int64(len(pdf)),
			SHA256:   fmt.Sprintf("%x", sha256.Sum256(pdf)),
			Content:  pdf,
		},
	}
}

// fixtureAIFTA: Indian frozen buffalo meat to Viet Nam.
func fixtureAIFTA() *Certificate {
	return &Certificate{
		Header: Header{
			ID:             "IN-AI-2026-MUM-3371902",
			UUID:           "5b9e1d7c-2a4f-4c6e-8d0b-1f3a5c7e9b2d",
			Version:        1,
			TypeCode:       "864",
			FunctionCode:   "7",
			Name:           "Form AI",
			Agreement:      "AIFTA",
			IsPreferential: true,
			IssueDateTime:  mustDT("2026-06-03T12:45:00+05:30"),
			IssueLocation:  loc("INBOM", "Mumbai"),
			ExportCountry:  "IN",
			ImportCountry:  "VN",
			LanguageCode:   "en",
			Status:         "70",
			Remarks:        "CERTIFIED TRUE COPY of the original certificate, which was lost in transit.",
			Flags:          &Flags{CertifiedTrueCopy: true},
			Issuer: Party{
				Name: "Export Inspection Agency - Mumbai",
				Address: &Address{
					Lines:    []string{"Plot No. 4, Sector 11, CBD Belapur"},
					CityName: "Navi Mumbai", Postcode: "400614", CountrySubDivisionName: "Maharashtra", CountryCode: "IN",
				},
			},
		},
		Consignment: Consignment{
			Exporter: Party{
				IDs:  []Identifier{{Value: "0388012345", SchemeID: "in.iec"}},
				Name: "Deccan Frozen Foods Private Limited",
				Address: &Address{
					Lines:    []string{"Survey No. 112, MIDC Chakan Phase II"},
					CityName: "Pune", Postcode: "410501", CountrySubDivisionName: "Maharashtra", CountryCode: "IN",
				},
			},
			Importer: Party{
				Name: "Hai Phong Cold Chain Import Export Company Limited",
				Address: &Address{
					Lines:    []string{"Lot CN5, Dinh Vu Industrial Zone"},
					CityName: "Hai Phong", CountryCode: "VN",
				},
			},
			MainCarriage: &TransportMovement{
				ModeCode:           "1",
				DepartureDate:      mustD("2026-06-05"),
				JourneyID:          "022E",
				UsedTransportMeans: &TransportMeans{ID: "9461867", Name: "WAN HAI 512"},
			},
			LoadingPort:   loc("INNSA", "Nhava Sheva (Jawaharlal Nehru Port)"),
			UnloadingPort: loc("VNHPH", "Hai Phong"),
			Equipment: []TransportEquipment{
				{ID: "WHLU5540127", SealIDs: []string{"WH771204"}},
				{ID: "WHLU5540243", SealIDs: []string{"WH771205"}},
			},
			TransportPackages: []Packaging{{Quantity: "2700", TypeCode: "CT", Marks: "HPCC / HAI PHONG / MADE IN INDIA"}},
			Items: []GoodsItem{{
				SequenceNumber:  1,
				MarksAndNumbers: "HPCC/HPH/1-2700",
				Packages:        []Packaging{{Quantity: "2700", TypeCode: "CT"}},
				Product: TradeProduct{
					Description:        "Frozen boneless meat of buffalo (Bubalus bubalis), halal, 20 kg cartons",
					HSCode:             "020230",
					HSEdition:          "HS2022",
					NationalTariffCode: "02023000",
				},
				OriginCriteria:    []string{"WO"},
				Quantity:          meas("54000", "KGM"),
				GrossWeight:       pmeas("55620", "KGM"),
				FOBValue:          amt("178200.00", "USD"),
				InvoiceReferences: []InvoiceReference{{ID: "DFF/EXP/26-27/0148", IssueDate: mustD("2026-06-01")}},
			}},
		},
		FirstSignatory: Authentication{
			ActualDateTime: mustDT("2026-06-02T17:10:00+05:30"),
			Statement:      "The undersigned hereby declares that the above details and statements are correct; that all the goods were produced in India and that they comply with the origin requirements specified for these goods in the ASEAN-India Free Trade Area Preferential Tariff for the goods exported to Viet Nam.",
			Signatory:      Signatory{Name: "Rajesh Kulkarni", Position: "Director, Exports"},
			Place:          loc("INPNQ", "Pune"),
		},
		SecondSignatory: &Authentication{
			ActualDateTime: mustDT("2026-06-03T12:45:00+05:30"),
			Statement:      "It is hereby certified, on the basis of control carried out, that the declaration by the exporter is correct.",
			Signatory:      Signatory{Name: "Anjali Deshpande", Position: "Assistant Director"},
			Place:          loc("INBOM", "Mumbai"),
		},
		Verification: &Verification{QRPayload: "ECO1|IN|IN-AI-2026-MUM-3371902|1"},
	}
}

// fixtureAKFTA: a replacement Form AK from Korea to Thailand, goods sent
// for an exhibition.
func fixtureAKFTA() *Certificate {
	return &Certificate{
		Header: Header{
			ID:             "KR-AK-2026-SEL-0290117",
			UUID:           "e4b8d2f6-0c1a-4b3e-9f5d-7a2c4e6b8d01",
			Version:        2,
			TypeCode:       "864",
			FunctionCode:   "5",
			Name:           "Form AK",
			Agreement:      "AKFTA",
			IsPreferential: true,
			IssueDateTime:  mustDT("2026-07-15T09:00:00+09:00"),
			IssueLocation:  loc("KRSEL", "Seoul"),
			ExportCountry:  "KR",
			ImportCountry:  "TH",
			LanguageCode:   "en",
			Status:         "70",
			ValidUntil:     mustD("2027-07-15"),
			Remarks:        "Goods for display at Thailand Beauty Expo 2026, IMPACT Muang Thong Thani, 20-23 August 2026. Replaces KR-AK-2026-SEL-0288954 to correct the consignee address.",
			Flags:          &Flags{Exhibition: true},
			Issuer: Party{
				Name: "Korea Chamber of Commerce and Industry",
				Address: &Address{
					Lines:    []string{"39 Sejong-daero, Jung-gu"},
					CityName: "Seoul", Postcode: "04513", CountryCode: "KR",
				},
			},
		},
		Consignment: Consignment{
			ID: &Identifier{Value: "KE0651-2607-0093", SchemeID: "air-waybill"},
			Exporter: Party{
				IDs:  []Identifier{{Value: "211-86-12345", SchemeID: "kr.brn"}},
				Name: "Hanbit Cosmetics Co., Ltd.",
				Address: &Address{
					Lines:    []string{"17 Gasan digital 1-ro, Geumcheon-gu"},
					CityName: "Seoul", Postcode: "08594", CountryCode: "KR",
				},
			},
			Importer: Party{
				Name: "Thailand Beauty Expo 2026 (c/o Bangkok Beauty Distribution Co., Ltd.)",
				Address: &Address{
					Lines:    []string{"IMPACT Muang Thong Thani, 47/569-576 Popular 3 Road"},
					CityName: "Pak Kret", Postcode: "11120", CountrySubDivisionName: "Nonthaburi", CountryCode: "TH",
				},
			},
			MainCarriage: &TransportMovement{
				ModeCode:           "4",
				DepartureDate:      mustD("2026-07-17"),
				JourneyID:          "KE651",
				UsedTransportMeans: &TransportMeans{Name: "Korean Air KE651"},
			},
			LoadingPort:   loc("KRICN", "Incheon International Airport"),
			UnloadingPort: loc("THBKK", "Bangkok Suvarnabhumi"),
			Items: []GoodsItem{{
				SequenceNumber:  1,
				MarksAndNumbers: "TBE2026/BOOTH C-14",
				Packages:        []Packaging{{Quantity: "36", TypeCode: "BX"}},
				Product: TradeProduct{
					Description: "Skin care preparations (moisturising creams), 50 ml jars, brand Hanbit",
					HSCode:      "330499",
					HSEdition:   "HS2022",
				},
				OriginCriteria:    []string{"CTH"},
				Quantity:          meas("4320", "H87"),
				GrossWeight:       pmeas("410.5", "KGM"),
				InvoiceReferences: []InvoiceReference{{ID: "HB-PI-2607-011", IssueDate: mustD("2026-07-10")}},
			}},
		},
		Replaces: &Replacement{
			CertificateNumber: "KR-AK-2026-SEL-0288954",
			IssueDate:         mustD("2026-07-11"),
			Version:           1,
			Reason:            "Consignee address corrected",
		},
		FirstSignatory: Authentication{
			ActualDateTime: mustDT("2026-07-14T16:30:00+09:00"),
			Statement:      "The undersigned hereby declares that the above details and statements are correct; that all the goods were produced in Korea and that they comply with the origin requirements specified for these goods in the ASEAN-Korea Free Trade Area.",
			Signatory:      Signatory{Name: "Kim Ji-won", Position: "Overseas Sales Manager"},
		},
		SecondSignatory: &Authentication{
			ActualDateTime: mustDT("2026-07-15T09:00:00+09:00"),
			Statement:      "It is hereby certified, on the basis of control carried out, that the declaration by the exporter is correct.",
			Signatory:      Signatory{Name: "Park Seung-hoon", Position: "Certification Officer"},
			Place:          loc("KRSEL", "Seoul"),
		},
	}
}

// fixtureACFTA: Form E from China to Malaysia, issued retroactively.
func fixtureACFTA() *Certificate {
	return &Certificate{
		Header: Header{
			ID:             "E263100000012345",
			UUID:           "0b8e3f1c-5d2a-4c7e-9f10-2a6b8c4d1e3f",
			Version:        1,
			TypeCode:       "864",
			FunctionCode:   "9",
			Name:           "Form E",
			Agreement:      "ACFTA",
			IsPreferential: true,
			IssueDateTime:  mustDT("2026-03-03T14:00:00+08:00"),
			IssueLocation:  loc("CNSZX", "Shenzhen"),
			ExportCountry:  "CN",
			ImportCountry:  "MY",
			LanguageCode:   "en",
			Status:         "70",
			ValidUntil:     mustD("2027-03-03"),
			Remarks:        "Issued retroactively: the goods were shipped on 20 February 2026.",
			Flags:          &Flags{IssuedRetroactively: true},
			Issuer: Party{
				Name: "Shenzhen Customs District, General Administration of Customs of the People's Republic of China",
				Address: &Address{
					Lines:    []string{"2 Huanggang Road, Futian District"},
					CityName: "Shenzhen", CountrySubDivisionName: "Guangdong", CountryCode: "CN",
				},
			},
		},
		Consignment: Consignment{
			ID: &Identifier{Value: "COSU6401234560", SchemeID: "bill-of-lading"},
			Exporter: Party{
				IDs:  []Identifier{{Value: "91440300MA5F123456", SchemeID: "cn.uscc"}},
				Name: "Shenzhen Pengcheng Computer Technology Co., Ltd.",
				Address: &Address{
					Lines:    []string{"Building 5, Nanshan Science and Technology Park", "Yuehai Subdistrict, Nanshan District"},
					CityName: "Shenzhen", Postcode: "518057", CountrySubDivisionName: "Guangdong", CountryCode: "CN",
				},
			},
			Importer: Party{
				Name: "Klang Valley IT Distribution Sdn. Bhd.",
				Address: &Address{
					Lines:    []string{"Lot 12, Jalan Teknologi 3/1, Kota Damansara"},
					CityName: "Petaling Jaya", Postcode: "47810", CountrySubDivisionName: "Selangor", CountryCode: "MY",
				},
			},
			MainCarriage: &TransportMovement{
				ModeCode:           "1",
				DepartureDate:      mustD("2026-02-20"),
				JourneyID:          "086S",
				UsedTransportMeans: &TransportMeans{ID: "9783588", Name: "COSCO SHIPPING LOTUS"},
			},
			LoadingPort:   loc("CNYTN", "Yantian, Shenzhen"),
			UnloadingPort: loc("MYPKG", "Port Klang"),
			Items: []GoodsItem{{
				SequenceNumber:  1,
				MarksAndNumbers: "KVIT/PKG/1-500",
				Packages:        []Packaging{{Quantity: "500", TypeCode: "CT"}},
				Product: TradeProduct{
					Description: "Portable automatic data processing machines (notebook computers), 14-inch, brand PengBook",
					HSCode:      "847130",
					HSEdition:   "HS2022",
				},
				OriginCriteria:    []string{"RVC"},
				RVCPercent:        "45",
				Quantity:          meas("1000", "H87"),
				GrossWeight:       pmeas("2350", "KGM"),
				FOBValue:          amt("312000.00", "USD"),
				InvoiceReferences: []InvoiceReference{{ID: "PCT26MY0217", IssueDate: mustD("2026-02-17")}},
			}},
		},
		FirstSignatory: Authentication{
			ActualDateTime: mustDT("2026-03-02T10:00:00+08:00"),
			Statement:      "The undersigned hereby declares that the above details and statements are correct; that all the goods were produced in China and that they comply with the origin requirements specified for these goods in the ASEAN-China Free Trade Area Preferential Tariff for the goods exported to Malaysia.",
			Signatory:      Signatory{Name: "Li Wei", Position: "Customs Affairs Manager"},
			Place:          loc("CNSZX", "Shenzhen"),
		},
		SecondSignatory: &Authentication{
			ActualDateTime: mustDT("2026-03-03T14:00:00+08:00"),
			Statement:      "It is hereby certified, on the basis of control carried out, that the declaration by the exporter is correct.",
			Signatory:      Signatory{Name: "Zhang Min", Position: "Origin Officer"},
			Place:          loc("CNSZX", "Shenzhen"),
		},
	}
}

// fixtureNonPref: a non-preferential certificate of origin issued by an
// Indian chamber of commerce for basmati rice to the United Arab Emirates.
func fixtureNonPref() *Certificate {
	return &Certificate{
		Header: Header{
			ID:             "BCCI-2026-NP-0045218",
			UUID:           "9d2f4b6a-8c0e-4a1b-b3d5-f7e9a1c3e5b7",
			Version:        1,
			TypeCode:       "861",
			FunctionCode:   "9",
			Name:           "Certificate of Origin (non-preferential)",
			Agreement:      "NONPREF",
			IsPreferential: false,
			IssueDateTime:  mustDT("2026-08-19T15:20:00+05:30"),
			IssueLocation:  loc("INBOM", "Mumbai"),
			ExportCountry:  "IN",
			ImportCountry:  "AE",
			LanguageCode:   "en",
			Status:         "70",
			Issuer: Party{
				IDs:  []Identifier{{Value: "BCCI", SchemeID: "in.dgft.agency"}},
				Name: "Bombay Chamber of Commerce and Industry",
				Address: &Address{
					Lines:    []string{"Mackinnon Mackenzie Building, 4 Shoorji Vallabhdas Marg, Ballard Estate"},
					CityName: "Mumbai", Postcode: "400001", CountrySubDivisionName: "Maharashtra", CountryCode: "IN",
				},
			},
		},
		Consignment: Consignment{
			ID:          &Identifier{Value: "MSCUNS2608190041", SchemeID: "bill-of-lading"},
			Information: "Shipment under letter of credit LC-ENBD-26-7781",
			Exporter: Party{
				IDs:  []Identifier{{Value: "0397004512", SchemeID: "in.iec"}},
				Name: "Punjab Heritage Rice Exports Private Limited",
				Address: &Address{
					Lines:    []string{"G.T. Road, Village Bhadson"},
					CityName: "Karnal", Postcode: "132001", CountrySubDivisionName: "Haryana", CountryCode: "IN",
				},
			},
			Importer: Party{
				Name: "Al Noor Foodstuff Trading LLC",
				Address: &Address{
					Lines:    []string{"Warehouse 14, Al Ras Area, Deira"},
					CityName: "Dubai", CountryCode: "AE",
				},
				Contact: &Contact{PersonName: "Omar Al Hashimi", Phone: "+971 4 225 8800"},
			},
			MainCarriage: &TransportMovement{
				ModeCode:           "1",
				DepartureDate:      mustD("2026-08-21"),
				UsedTransportMeans: &TransportMeans{Name: "MSC ARIANE"},
			},
			LoadingPort:   loc("INMUN", "Mundra"),
			UnloadingPort: loc("AEJEA", "Jebel Ali"),
			Items: []GoodsItem{{
				SequenceNumber:  1,
				MarksAndNumbers: "ANF/DXB/1121 SELLA",
				Packages:        []Packaging{{Quantity: "2000", TypeCode: "BG"}},
				Product: TradeProduct{
					Description: "1121 Basmati rice, golden sella, wholly milled, in 40 kg woven polypropylene bags",
					HSCode:      "100630",
					HSEdition:   "HS2022",
				},
				OriginCriteria:    []string{"WO"},
				Quantity:          meas("80", "TNE"),
				GrossWeight:       pmeas("80.4", "TNE"),
				InvoiceReferences: []InvoiceReference{{ID: "PHRE/26-27/0311", IssueDate: mustD("2026-08-18")}},
			}},
		},
		FirstSignatory: Authentication{
			ActualDateTime: mustDT("2026-08-19T11:00:00+05:30"),
			Statement:      "We hereby certify that the goods described above are of Indian origin.",
			Signatory:      Signatory{Name: "Harpreet Singh Sandhu", Position: "Partner"},
		},
		SecondSignatory: &Authentication{
			ActualDateTime: mustDT("2026-08-19T15:20:00+05:30"),
			Statement:      "The Bombay Chamber of Commerce and Industry certifies, on the basis of the documents produced, that the goods described above originate in India.",
			Signatory:      Signatory{Name: "Meera Iyer", Position: "Assistant Secretary"},
			Place:          loc("INBOM", "Mumbai"),
			SealImageRef:   "bcci-seal.png",
		},
		Verification: &Verification{URL: "https://coo.dgft.gov.in/verify/BCCI-2026-NP-0045218"},
	}
}

// fixtureOutcomeATIGA is the Indonesian customs' decision on the ATIGA
// certificate: Form D box 4.
func fixtureOutcomeATIGA() *Outcome {
	return &Outcome{
		CertificateNumber: "TH-D-2026-BKK-0081934",
		ExportCountry:     "TH",
		ImportCountry:     "ID",
		DecisionDateTime:  mustDT("2026-04-16T13:25:00+07:00"),
		DeclarationRef:    "PIB-040300-2026-0071834",
		Items: []ItemDecision{
			{SequenceNumber: 1, PreferenceGiven: true, UtilisedQuantity: pmeas("12000", "H87")},
			{SequenceNumber: 2, PreferenceGiven: false, Reason: "Partial cumulation below the threshold for the claimed preference"},
		},
	}
}

func validDir() string { return filepath.Join("testdata", "valid") }

// TestFixturesUpToDate keeps testdata/valid/*.xml equal to the fixture
// values; -update rewrites them.
func TestFixturesUpToDate(t *testing.T) {
	files := map[string][]byte{}
	for name, c := range fixtureCertificates() {
		b, err := EncodeXML(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files[name+".xml"] = b
	}
	ob, err := EncodeOutcomeXML(fixtureOutcomeATIGA())
	if err != nil {
		t.Fatal(err)
	}
	files["outcome-atiga.xml"] = ob
	for name, want := range files {
		path := filepath.Join(validDir(), name)
		if *update {
			if err := os.MkdirAll(validDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its fixture value: run go test ./schema -run TestFixturesUpToDate -update", path)
		}
	}
}
