package portal

import (
	"slices"
	"time"

	"github.com/ecogate/ecogate/issuance"
)

// Notifications on the exporter's dashboard. The issuance service keeps
// no per-person notification record for display: its notifications
// (issuance/api.Sink) are e-mails, SMS and webhooks queued in the outbox
// for delivery. The dashboard therefore lists the history events of the
// exporter's recent applications (issuance.Application.History), newest
// first, worded as those e-mails are.

// Notice is one line of the dashboard's notifications.
type Notice struct {
	At          time.Time
	Application string
	Certificate string
	Text        string
	Reason      string
	// Attention marks moves that need the exporter (a query, a rejection).
	Attention bool
}

type dashboardView struct {
	*issuance.Dashboard
	Notices []Notice
}

// maxNotices bounds the dashboard's notifications.
const maxNotices = 15

var noticeText = map[issuance.Action]string{
	issuance.ActSubmit: "submitted", issuance.ActAnswer: "answered and resubmitted", issuance.ActReturn: "returned with a query",
	issuance.ActApprove: "approved", issuance.ActIssue: "issued", issuance.ActReject: "rejected", issuance.ActReview: "taken up for review",
	issuance.ActWithdraw: "withdrawn", issuance.ActPay: "paid",
}

// noticesOf lists the history events of apps, newest first.
func noticesOf(apps []*issuance.Application) []Notice {
	var out []Notice
	for _, a := range apps {
		for _, ev := range slices.Backward(a.History) { // later moves first among equal times
			txt, ok := noticeText[ev.Action]
			if !ok {
				txt = string(ev.Action)
			}
			n := Notice{At: ev.At, Application: a.ID, Text: txt + " by " + ev.Actor, Reason: ev.Reason,
				Attention: ev.Action == issuance.ActReturn || ev.Action == issuance.ActReject}
			if ev.Action == issuance.ActIssue {
				n.Certificate = a.Certificate
			}
			out = append(out, n)
		}
	}
	slices.SortStableFunc(out, func(x, y Notice) int { return y.At.Compare(x.At) })
	if len(out) > maxNotices {
		out = out[:maxNotices]
	}
	return out
}
