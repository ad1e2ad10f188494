/*
 * edix-router - queues each validated document for its receiver, pushes it
 * over the receiver's own CURVE connection, records the delivery when the
 * receiver acknowledges it, redelivers after a timeout (with backoff) and on
 * reconnect, and sends the sender a signed status notification.
 */
#include "router.h"

int
main(int argc, char **argv)
{
    return edix_service_main(argc, argv, "router",
                             "Routes and delivers validated documents for an edix hub.",
                             router_run);
}
