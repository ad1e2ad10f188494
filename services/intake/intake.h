/*
 * intake.h - private to edix-intake.
 */
#ifndef EDIX_INTAKE_H
#define EDIX_INTAKE_H

#include "service.h"

int intake_run(edix_service_t *svc);

#endif
