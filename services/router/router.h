/*
 * router.h - private to edix-router.
 */
#ifndef EDIX_ROUTER_H
#define EDIX_ROUTER_H

#include "service.h"

int router_run(edix_service_t *svc);

#endif
