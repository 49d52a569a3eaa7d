/* b24_protocol.h - the numbers of the Bitrix24 REST protocol, each
 * defined once (spec/portal.md).  The extension exposes them to Python as
 * _core constants, so no layer writes the literal again. */
#ifndef B24_PROTOCOL_H
#define B24_PROTOCOL_H

/* Rows of one REST v2 list page: fixed by the portal
 * (IRestService::LIST_LIMIT, portal.md §6.1); a shorter page is the last. */
#define B24_V2_PAGE_SIZE 50

/* The default `limit` of a REST v3 page (`pagination.limit`, portal.md). */
#define B24_V3_PAGE_DEFAULT 50

/* Commands of one `batch` request, at most (v2 and v3). */
#define B24_BATCH_MAX_COMMANDS 50

#endif /* B24_PROTOCOL_H */
