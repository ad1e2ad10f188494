/*
 * edix-validator - checks each accepted document: hardened parse, document
 * type, the official UBL schema, business rules, and whether the
 * submitting partner really is the document's sender and the receiver an
 * active partner allowed that type.  Verdict and reasons go to the store;
 * the router hears of what passed.  Several validators may run at once.
 */
#include "validator.h"

int
main(int argc, char **argv)
{
    return edix_service_main(argc, argv, "validator",
                             "Validates accepted documents for an edix hub.", validator_run);
}
