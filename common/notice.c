/*
 * notice.c - build status notifications as UBL 2.1 ApplicationResponse.
 * Element order follows the UBL 2.1 schema (tests validate the output
 * against it); every text is XML-escaped.
 */
#include "notice.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
s_esc(edix_buf_t *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            edix_buf_adds(b, "&lt;");
            break;
        case '>':
            edix_buf_adds(b, "&gt;");
            break;
        case '&':
            edix_buf_adds(b, "&amp;");
            break;
        case '"':
            edix_buf_adds(b, "&quot;");
            break;
        default:
            /* control characters are not allowed in XML 1.0 text */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                edix_buf_add(b, " ", 1);
            else
                edix_buf_add(b, s, 1);
        }
    }
}

static void
s_elem(edix_buf_t *b, const char *indent, const char *name, const char *text)
{
    edix_buf_addf(b, "%s<%s>", indent, name);
    s_esc(b, text);
    edix_buf_addf(b, "</%s>\n", name);
}

char *
edix_notice_build(const edix_notice_t *n)
{
    edix_buf_t b;
    edix_buf_init(&b);
    char date[16], tm_s[16];
    time_t secs = (time_t)(n->at_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    strftime(tm_s, sizeof tm_s, "%H:%M:%SZ", &tm);

    edix_buf_adds(&b,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<ApplicationResponse"
                  " xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2\"\n"
                  "  xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:"
                  "CommonAggregateComponents-2\"\n"
                  "  xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:"
                  "CommonBasicComponents-2\">\n");
    s_elem(&b, "  ", "cbc:UBLVersionID", "2.1");
    s_elem(&b, "  ", "cbc:CustomizationID", "urn:edix:status-notification:1");
    s_elem(&b, "  ", "cbc:ID", n->notice_id);
    s_elem(&b, "  ", "cbc:IssueDate", date);
    s_elem(&b, "  ", "cbc:IssueTime", tm_s);
    s_elem(&b, "  ", "cbc:Note",
           n->delivered ? "The document was delivered." : "The document was rejected.");
    edix_buf_adds(&b, "  <cac:SenderParty>\n    <cac:PartyName>\n");
    s_elem(&b, "      ", "cbc:Name", "edix hub");
    edix_buf_adds(&b, "    </cac:PartyName>\n  </cac:SenderParty>\n");
    edix_buf_adds(&b, "  <cac:ReceiverParty>\n    <cac:PartyIdentification>\n");
    s_elem(&b, "      ", "cbc:ID", n->partner);
    edix_buf_adds(&b, "    </cac:PartyIdentification>\n  </cac:ReceiverParty>\n");
    edix_buf_adds(&b, "  <cac:DocumentResponse>\n    <cac:Response>\n");
    s_elem(&b, "      ", "cbc:ReferenceID", n->ref_id);
    s_elem(&b, "      ", "cbc:ResponseCode", n->delivered ? "AP" : "RE");
    if (n->delivered) {
        char *d = xasprintf("delivered to %s", n->receiver ? n->receiver : "the receiver");
        s_elem(&b, "      ", "cbc:Description", d);
        free(d);
    } else {
        char *d =
            xasprintf("rejected: %zu reason%s", n->reason_count, n->reason_count == 1 ? "" : "s");
        s_elem(&b, "      ", "cbc:Description", d);
        free(d);
    }
    for (size_t i = 0; !n->delivered && i < n->reason_count; i++) {
        edix_buf_adds(&b, "      <cac:Status>\n");
        s_elem(&b, "        ", "cbc:StatusReasonCode", n->reasons[i].rule);
        s_elem(&b, "        ", "cbc:StatusReason", n->reasons[i].message);
        if (n->reasons[i].path && *n->reasons[i].path)
            s_elem(&b, "        ", "cbc:Text", n->reasons[i].path);
        edix_buf_adds(&b, "      </cac:Status>\n");
    }
    edix_buf_adds(&b, "    </cac:Response>\n    <cac:DocumentReference>\n");
    s_elem(&b, "      ", "cbc:ID", n->doc_number ? n->doc_number : n->client_id);
    if (n->doctype && *n->doctype)
        s_elem(&b, "      ", "cbc:DocumentType", n->doctype);
    edix_buf_adds(&b, "    </cac:DocumentReference>\n  </cac:DocumentResponse>\n"
                      "</ApplicationResponse>\n");
    return edix_buf_take(&b);
}
