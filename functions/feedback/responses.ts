// The platform's responses to an org's feedback reach the org in GET /feedback and GET /health
// (unread_responses); both tell it how to mark one as read.

/** The call that acknowledges (marks read) the response to feedback item id. */
export const acknowledgeStep = (id: string) => `PATCH /api/openclaw/feedback/${id} { acknowledged: true }`;
