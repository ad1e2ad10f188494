/*
 * edix-intake - the partner-facing submit endpoint.  Authenticates each
 * partner by its CURVE key (ZAP, bound before the endpoint), caps the size,
 * stores each document durably, answers with a signed receipt only after
 * the commit, then tells the validators.
 */
#include "intake.h"

int
main(int argc, char **argv)
{
    return edix_service_main(argc, argv, "intake",
                             "The partner-facing submit endpoint of an edix hub.", intake_run);
}
