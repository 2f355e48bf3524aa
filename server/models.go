package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/storage"
)

// The JSON shapes below follow Svix's API models field for field (camelCase,
// the same optional fields), so Svix's client libraries decode them.

type listResponse[T any] struct {
	Data         []T     `json:"data"`
	Iterator     *string `json:"iterator"`
	PrevIterator *string `json:"prevIterator"`
	Done         bool    `json:"done"`
}

func newList[S, T any](p storage.Page[S], conv func(*S) T) listResponse[T] {
	out := listResponse[T]{Data: make([]T, 0, len(p.Items)), Done: p.Done}
	for i := range p.Items {
		out.Data = append(out.Data, conv(&p.Items[i]))
	}
	if p.Iterator != "" {
		it := p.Iterator
		out.Iterator = &it
	}
	if p.PrevIterator != "" {
		prev := p.PrevIterator
		out.PrevIterator = &prev
	}
	return out
}

func ts(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optUint16(v uint16) *uint16 {
	if v == 0 {
		return nil
	}
	return &v
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

type applicationOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid,omitempty"`
	Name         string            `json:"name"`
	Metadata     map[string]string `json:"metadata"`
	RateLimit    *uint16           `json:"rateLimit,omitempty"`
	ThrottleRate *uint16           `json:"throttleRate"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	// DeliveryPolicy is a Herald extension (handlers_policy.go).
	DeliveryPolicy *policyOut `json:"deliveryPolicy"`
}

func toApplicationOut(a *storage.App) applicationOut {
	return applicationOut{
		ID: a.ID, UID: optString(a.UID), Name: a.Name, Metadata: nonNilMap(a.Metadata),
		RateLimit: optUint16(a.ThrottleRate), ThrottleRate: optUint16(a.ThrottleRate),
		CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt),
		DeliveryPolicy: toPolicyOut(&a.Policy, true),
	}
}

// endpointOut lists every key even when null, as Svix does, and gives the
// event-type filter under both of Svix's names.
type endpointOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid"`
	URL          string            `json:"url"`
	Description  string            `json:"description"`
	Version      int               `json:"version"`
	Disabled     bool              `json:"disabled"`
	FilterTypes  []string          `json:"filterTypes"`
	EventTypes   []string          `json:"eventTypes"`
	Channels     []string          `json:"channels"`
	Metadata     map[string]string `json:"metadata"`
	RateLimit    *uint16           `json:"rateLimit"`
	ThrottleRate *uint16           `json:"throttleRate"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	// DeliveryPolicy is a Herald extension (handlers_policy.go).
	DeliveryPolicy *policyOut `json:"deliveryPolicy"`
}

func toEndpointOut(ep *storage.Endpoint) endpointOut {
	return endpointOut{
		ID: ep.ID, UID: optString(ep.UID), URL: ep.URL, Description: ep.Description,
		Version: int(ep.Version), Disabled: ep.Disabled, FilterTypes: ep.FilterTypes, EventTypes: ep.FilterTypes, Channels: ep.Channels,
		Metadata: nonNilMap(ep.Metadata), RateLimit: optUint16(ep.ThrottleRate), ThrottleRate: optUint16(ep.ThrottleRate),
		CreatedAt: ts(ep.CreatedAt), UpdatedAt: ts(ep.UpdatedAt),
		DeliveryPolicy: toPolicyOut(&ep.Policy, false),
	}
}

type eventTypeOut struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Archived     bool            `json:"archived"`
	Deprecated   bool            `json:"deprecated"`
	FeatureFlag  *string         `json:"featureFlag,omitempty"` // the first flag, for clients of Svix's older field
	FeatureFlags []string        `json:"featureFlags,omitempty"`
	GroupName    *string         `json:"groupName,omitempty"`
	Schemas      json.RawMessage `json:"schemas"`
	CreatedAt    time.Time       `json:"createdAt"`
	UpdatedAt    time.Time       `json:"updatedAt"`
}

func toEventTypeOut(t *storage.EventType) eventTypeOut {
	out := eventTypeOut{
		Name: t.Name, Description: t.Description, Archived: t.Archived, Deprecated: t.Deprecated,
		FeatureFlags: t.FeatureFlags, GroupName: optString(t.GroupName), Schemas: t.Schemas,
		CreatedAt: ts(t.CreatedAt), UpdatedAt: ts(t.UpdatedAt),
	}
	if len(t.FeatureFlags) > 0 {
		out.FeatureFlag = &t.FeatureFlags[0]
	}
	return out
}

type messageOut struct {
	ID        string          `json:"id"`
	EventType string          `json:"eventType"`
	EventID   *string         `json:"eventId"`
	Channels  []string        `json:"channels"`
	Tags      []string        `json:"tags,omitempty"`
	Payload   json.RawMessage `json:"payload"`
	DeliverAt *time.Time      `json:"deliverAt,omitempty"`
	Timestamp time.Time       `json:"timestamp"`
	// Destination is a Herald addition: the one-off destination the
	// message named, with its id.
	Destination *destinationOut `json:"destination,omitempty"`
}

// emptyPayload stands in for a payload left out of a response.
var emptyPayload = json.RawMessage(`{}`)

func toMessageOut(m *storage.Message, withContent bool) messageOut {
	out := messageOut{
		ID: m.ID, EventType: m.EventType, EventID: optString(m.EventID), Channels: m.Channels, Tags: m.Tags,
		Payload: emptyPayload, Timestamp: ts(m.Timestamp), Destination: toDestinationOut(&m.Destination),
	}
	if withContent && len(m.Payload) > 0 {
		out.Payload = m.Payload
	}
	if m.DeliverAt != 0 {
		t := ts(m.DeliverAt)
		out.DeliverAt = &t
	}
	return out
}

// payloadMark stands in for the payload while marshalMessage encodes the
// rest: it cannot occur elsewhere in the output, where every other key is
// fixed and every string value has its quotes escaped.
var payloadMark = []byte(`"payload":0`)

// marshalMessage encodes a message as encoding/json would, except that the
// payload is copied as stored instead of being scanned and compacted again:
// it was checked to be a JSON object when it was accepted, and on the
// ingest path this scan was most of the cost of the 202 body.
func marshalMessage(mo messageOut) []byte {
	payload := mo.Payload
	mo.Payload = json.RawMessage("0")
	body, err := json.Marshal(mo)
	i := bytes.Index(body, payloadMark)
	if err != nil || i < 0 {
		panic(fmt.Sprintf("server: encode message: %v", err)) // only strings, slices and times: cannot fail
	}
	at := i + len(payloadMark) - 1
	out := make([]byte, 0, len(body)-1+len(payload))
	out = append(out, body[:at]...)
	out = append(out, payload...)
	return append(out, body[at+1:]...)
}

type attemptOut struct {
	ID                 string      `json:"id"`
	MsgID              string      `json:"msgId"`
	EndpointID         string      `json:"endpointId"`
	URL                string      `json:"url"`
	Response           string      `json:"response"`
	ResponseStatusCode int         `json:"responseStatusCode"`
	ResponseDurationMs int64       `json:"responseDurationMs"`
	Status             int         `json:"status"`
	StatusText         string      `json:"statusText"`
	TriggerType        int         `json:"triggerType"`
	Timestamp          time.Time   `json:"timestamp"`
	Msg                *messageOut `json:"msg,omitempty"`
	// Error is a Herald addition: the transport error when no response
	// arrived (connection refused, timeout, refused address).
	Error string `json:"error,omitempty"`
	// DeliveryID is a Herald addition: the id of the (message, endpoint)
	// delivery the attempt belongs to, the one a delivery-id header sends.
	DeliveryID string `json:"deliveryId"`
	// SentHeaders and ResponseHeaders are Herald additions (named as in
	// Svix's MessageAttemptHeadersOut): the headers as recorded, with
	// credentials redacted by the sender. Absent when not recorded.
	SentHeaders     map[string]string `json:"sentHeaders,omitempty"`
	ResponseHeaders [][2]string       `json:"responseHeaders,omitempty"`
}

// toAttemptOut renders an attempt; without content the response body reads
// "{}", as in Svix, and the headers are left out. Sealed header values
// (custom headers of the endpoint) are opened with keys.
func toAttemptOut(keys *keyring.Keyring, at *storage.Attempt, withContent bool) attemptOut {
	out := attemptOut{
		ID: at.ID, MsgID: at.MsgID, EndpointID: at.EndpointID, URL: at.URL,
		Response: "{}", ResponseStatusCode: at.StatusCode, ResponseDurationMs: at.DurationMs,
		Status: int(at.Status), StatusText: at.Status.String(), TriggerType: int(at.Trigger),
		Timestamp: ts(at.Timestamp), Error: at.Error, DeliveryID: storage.DeliveryID(at.MsgID, at.EndpointID),
	}
	if !withContent {
		return out
	}
	out.Response = string(at.Response)
	if len(at.RequestHeaders) > 0 {
		out.SentHeaders = make(map[string]string, len(at.RequestHeaders))
		for _, h := range delivery.OpenRecordedHeaders(keys, at) {
			out.SentHeaders[h.Name] = h.Value
		}
	}
	if len(at.ResponseHeaders) > 0 {
		out.ResponseHeaders = make([][2]string, 0, len(at.ResponseHeaders))
		for _, h := range at.ResponseHeaders {
			out.ResponseHeaders = append(out.ResponseHeaders, [2]string{h.Name, h.Value})
		}
	}
	return out
}

type endpointMessageOut struct {
	messageOut
	Status      int        `json:"status"`
	StatusText  string     `json:"statusText"`
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
}

func toEndpointMessageOut(em *storage.EndpointMessage, withContent bool) endpointMessageOut {
	return endpointMessageOut{
		messageOut: toMessageOut(&em.Message, withContent),
		Status:     int(em.Delivery.Status), StatusText: em.Delivery.Status.String(),
		NextAttempt: optTime(em.Delivery.NextAttempt),
	}
}

// appDeliveryOut is one delivery of the app-wide list (Herald addition):
// the message as its endpoint sees it, and which endpoint that is.
type appDeliveryOut struct {
	endpointMessageOut
	EndpointID string `json:"endpointId"`
	DeliveryID string `json:"deliveryId"`
}

func optTime(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := ts(ns)
	return &t
}

type messageEndpointOut struct {
	endpointOut
	Status      int        `json:"status"`
	StatusText  string     `json:"statusText"`
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
	// Attempts is a Herald addition: how many attempts were made.
	Attempts uint32 `json:"attempts"`
	// DeliveryID is a Herald addition: this delivery's id (see attemptOut).
	DeliveryID string `json:"deliveryId"`
	// OneOff is a Herald addition: the delivery is to the one-off
	// destination the message named (id dst_..., url the message's), not
	// to an endpoint.
	OneOff bool `json:"oneOff,omitempty"`
}
